//! Users, roles, deactivation and password resets (admin), and the e-mail the outbox parked.
//!
//! The list (`/admin/users`) has the add-user form; each user has a page
//! (`/admin/users/{username}`) with the forms that change the account: grant a role it does not
//! hold, revoke one it holds, activate or deactivate, reset the password. A form with a mistake
//! is shown again with its message and the values typed (never a password); an action that
//! worked is confirmed on the page it leads to.

use super::{call, done, fixable, form_again, html, Chrome, FormError, Page};
use crate::service::{NewUser, Password, Permission, Role, Username};
use crate::store::{OutboxRow, UserListing};
use crate::web::auth::LoggedIn;
use crate::web::error::WebError;
use crate::web::notice::Notice;
use crate::web::{path_segment, AppState};
use actix_web::{get, post, web};
use askama::Template;
use serde::Deserialize;

/// One account as the admin's pages show it.
struct Account {
    username: String,
    printed_name: String,
    email: String,
    active: bool,
    /// Whether the user has still to replace a password an admin reset.
    must_change_password: bool,
    /// The roles held, in the order of [`Role::ALL`].
    roles: Vec<Role>,
    /// The roles not held (what may be granted).
    others: Vec<Role>,
    /// A blinded and an unblinded role held together ([`Role::blinding_conflict`]).
    conflict: Option<(Role, Role)>,
}

impl Account {
    fn of(listing: UserListing) -> Self {
        let roles: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| listing.roles.iter().any(|held| held == r.as_str()))
            .collect();
        let others = Role::ALL
            .into_iter()
            .filter(|r| !roles.contains(r))
            .collect();
        let conflict = Role::blinding_conflict(&roles);
        Self {
            username: listing.user.username,
            printed_name: listing.user.printed_name,
            email: listing.user.email,
            active: listing.user.active,
            must_change_password: listing.user.must_change_password,
            roles,
            others,
            conflict,
        }
    }

    /// The roles held, as text ("coordinator, statistician").
    fn role_list(&self) -> String {
        self.roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The blinding warning's short form ("coordinator and statistician: blinding at risk").
    fn conflict_text(&self) -> Option<String> {
        self.conflict
            .map(|(blinded, unblinded)| format!("{blinded} and {unblinded}: blinding at risk"))
    }

    /// The user's page.
    fn path(&self) -> String {
        format!("/admin/users/{}", path_segment(&self.username))
    }
}

/// What the add-user form held (the password is never sent back).
#[derive(Default)]
struct NewUserValues {
    username: String,
    name: String,
    email: String,
    role: String,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<Account>,
    all_roles: Vec<Role>,
    /// E-mail that failed for good, with the reason.
    parked: Vec<OutboxRow>,
    /// The add-user form's values, shown again with its error.
    new_user: NewUserValues,
    form_error: Option<FormError>,
}

impl UsersPage {
    /// Whether any account holds a blinded and an unblinded role together.
    fn any_conflict(&self) -> bool {
        self.users.iter().any(|u| u.conflict.is_some())
    }
}

async fn users_page_of(
    state: &web::Data<AppState>,
    user: &LoggedIn,
    new_user: NewUserValues,
    form_error: Option<FormError>,
) -> Result<UsersPage, WebError> {
    let actor = user.actor.clone();
    let (users, parked) = call(state, move |s| {
        Ok((s.users(&actor)?, s.parked_mail(&actor)?))
    })
    .await?;
    Ok(UsersPage {
        chrome: Chrome::of(user),
        users: users.into_iter().map(Account::of).collect(),
        all_roles: Role::ALL.to_vec(),
        parked,
        new_user,
        form_error,
    })
}

#[get("/admin/users")]
pub(super) async fn users_page(state: web::Data<AppState>, user: LoggedIn) -> Page {
    html(&users_page_of(&state, &user, NewUserValues::default(), None).await?)
}

#[derive(Deserialize)]
struct NewUserForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

fn new_user_of(form: &NewUserForm) -> Result<NewUser, WebError> {
    Ok(NewUser {
        username: Username::parse(form.username.trim())?,
        printed_name: form.name.clone(),
        email: form.email.clone(),
        role: match form.role.as_str() {
            "" => {
                return Err(WebError::Service(crate::service::ServiceError::Invalid {
                    field: "role",
                    problem: "choose the new user's role".into(),
                }))
            }
            role => role.parse()?,
        },
        password: Password::new(&form.password)?,
    })
}

#[post("/admin/users")]
pub(super) async fn add_user_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    form: web::Form<NewUserForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    user.require(Permission::ManageUsers)?;
    let form = form.into_inner();
    let added = match new_user_of(&form) {
        Ok(new) => {
            let actor = user.actor.clone();
            call(&state, move |s| s.add_user(&actor, &new)).await
        }
        Err(error) => Err(error),
    };
    match fixable(added)? {
        Ok(()) => Ok(done(&user, "/admin/users", Notice::UserAdded)),
        Err(error) => {
            let values = NewUserValues {
                username: form.username,
                name: form.name,
                email: form.email,
                role: form.role,
            };
            let page = users_page_of(&state, &user, values, Some(error.clone())).await?;
            form_again(&error, &page)
        }
    }
}

/// Which form of a user's page an error belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UserForm {
    Grant,
    Revoke,
    Active,
    Reset,
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    chrome: Chrome,
    account: Account,
    /// The temporary password a reset just chose, shown this once.
    temporary_password: Option<String>,
    /// The form at fault and its error.
    form_error: Option<(UserForm, FormError)>,
}

impl UserPage {
    /// The error of `form`, if it is the one at fault.
    fn error_of(&self, form: UserForm) -> Option<&FormError> {
        self.form_error
            .as_ref()
            .filter(|(which, _)| *which == form)
            .map(|(_, error)| error)
    }
}

async fn user_page_of(
    state: &web::Data<AppState>,
    user: &LoggedIn,
    username: String,
    temporary_password: Option<String>,
    form_error: Option<(UserForm, FormError)>,
) -> Result<UserPage, WebError> {
    let actor = user.actor.clone();
    let listing = call(state, move |s| s.user(&actor, &username)).await?;
    Ok(UserPage {
        chrome: Chrome::of(user),
        account: Account::of(listing),
        temporary_password,
        form_error,
    })
}

/// Shows `username`'s page again with `error` on `form` (or the error page when it is not
/// a mistake the form can fix).
async fn user_form_again(
    state: &web::Data<AppState>,
    user: &LoggedIn,
    username: String,
    form: UserForm,
    error: WebError,
) -> Page {
    let Some(error) = FormError::of(&error) else {
        return Err(error);
    };
    let page = user_page_of(state, user, username, None, Some((form, error.clone()))).await?;
    form_again(&error, &page)
}

#[get("/admin/users/{username}")]
pub(super) async fn user_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
) -> Page {
    html(&user_page_of(&state, &user, path.into_inner(), None, None).await?)
}

#[derive(Deserialize)]
struct RoleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    change: String,
}

#[post("/admin/users/{username}/roles")]
pub(super) async fn change_role_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
    form: web::Form<RoleForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    user.require(Permission::ManageUsers)?;
    let (grant, which) = match form.change.as_str() {
        "grant" => (true, UserForm::Grant),
        "revoke" => (false, UserForm::Revoke),
        other => {
            return Err(WebError::BadRequest(format!(
                "change: {other:?} is neither grant nor revoke"
            )))
        }
    };
    let username = path.into_inner();
    let role = match form.role.as_str() {
        "" => Err(WebError::Service(crate::service::ServiceError::Invalid {
            field: "role",
            problem: format!("choose the role to {}", form.change),
        })),
        text => text.parse::<Role>().map_err(WebError::from),
    };
    let changed = match role {
        Ok(role) => {
            let (actor, name) = (user.actor.clone(), username.clone());
            call(&state, move |s| s.change_role(&actor, &name, role, grant)).await
        }
        Err(error) => Err(error),
    };
    match changed {
        Ok(()) => Ok(done(
            &user,
            &format!("/admin/users/{}", path_segment(&username)),
            Notice::RolesChanged,
        )),
        Err(error) => user_form_again(&state, &user, username, which, error).await,
    }
}

#[derive(Deserialize)]
struct ActiveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    active: String,
}

#[post("/admin/users/{username}/active")]
pub(super) async fn set_active_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
    form: web::Form<ActiveForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    user.require(Permission::ManageUsers)?;
    let active = match form.active.as_str() {
        "true" => true,
        "false" => false,
        other => {
            return Err(WebError::BadRequest(format!(
                "active: {other:?} is neither true nor false"
            )))
        }
    };
    let username = path.into_inner();
    let (actor, name) = (user.actor.clone(), username.clone());
    match call(&state, move |s| s.set_active(&actor, &name, active)).await {
        Ok(()) => Ok(done(
            &user,
            &format!("/admin/users/{}", path_segment(&username)),
            Notice::AccountChanged,
        )),
        Err(error) => user_form_again(&state, &user, username, UserForm::Active, error).await,
    }
}

#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    csrf: String,
    /// A temporary password the admin typed; empty for a random one.
    #[serde(default)]
    password: String,
}

/// Resets the user's password. A password the admin typed is confirmed after a redirect; a
/// random one is shown on the answer itself, once (it travels in no cookie and no address).
#[post("/admin/users/{username}/password")]
pub(super) async fn reset_password_page(
    state: web::Data<AppState>,
    user: LoggedIn,
    path: web::Path<String>,
    form: web::Form<ResetForm>,
) -> Page {
    user.check_csrf(&form.csrf)?;
    user.require(Permission::ManageUsers)?;
    let username = path.into_inner();
    let typed = !form.password.is_empty();
    let reset = match typed {
        true => Password::new(&form.password)
            .map(Some)
            .map_err(WebError::from),
        false => Ok(None),
    };
    let reset = match reset {
        Ok(chosen) => {
            let (actor, name) = (user.actor.clone(), username.clone());
            call(&state, move |s| s.reset_password(&actor, &name, chosen)).await
        }
        Err(error) => Err(error),
    };
    match reset {
        Ok(_) if typed => Ok(done(
            &user,
            &format!("/admin/users/{}", path_segment(&username)),
            Notice::PasswordReset,
        )),
        Ok(temporary) => {
            let mut page = user_page_of(&state, &user, username, Some(temporary), None).await?;
            page.chrome.notice = Some(Notice::PasswordReset);
            html(&page)
        }
        Err(error) => user_form_again(&state, &user, username, UserForm::Reset, error).await,
    }
}
