//! Users, roles and deactivation (admin), and the e-mail the outbox parked.

use super::{call, html, see_other, Chrome, Page};
use crate::service::Permission;
use crate::service::Role;
use crate::store::{OutboxRow, UserListing};
use crate::web::auth::LoggedIn;
use crate::web::error::WebError;
use crate::web::AppState;
use actix_web::{get, post, web};
use askama::Template;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<UserListing>,
    all_roles: Vec<Role>,
    /// E-mail that failed for good, with the reason.
    parked: Vec<OutboxRow>,
}

#[get("/admin/users")]
pub(super) async fn users_page(state: web::Data<AppState>, user: LoggedIn) -> Page {
    let actor = user.actor.clone();
    let (users, parked) = call(&state, move |s| {
        Ok((s.users(&actor)?, s.parked_mail(&actor)?))
    })
    .await?;
    html(&UsersPage {
        chrome: Chrome::of(&user),
        users,
        all_roles: Role::ALL.to_vec(),
        parked,
    })
}

#[derive(Deserialize)]
struct NewUserForm {
    #[serde(default)]
    csrf: String,
    username: String,
    name: String,
    email: String,
    role: String,
    password: String,
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
    let new = crate::service::NewUser {
        username: crate::service::Username::parse(&form.username)?,
        printed_name: form.name,
        email: form.email,
        role: form.role.parse()?,
        password: crate::service::Password::new(&form.password)?,
    };
    let actor = user.actor.clone();
    call(&state, move |s| s.add_user(&actor, &new)).await?;
    Ok(see_other("/admin/users"))
}

#[derive(Deserialize)]
struct RoleForm {
    #[serde(default)]
    csrf: String,
    role: String,
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
    let role: Role = form.role.parse()?;
    let grant = match form.change.as_str() {
        "grant" => true,
        "revoke" => false,
        other => {
            return Err(WebError::BadRequest(format!(
                "change: {other:?} is neither grant nor revoke"
            )))
        }
    };
    let (actor, username) = (user.actor.clone(), path.into_inner());
    call(&state, move |s| {
        s.change_role(&actor, &username, role, grant)
    })
    .await?;
    Ok(see_other("/admin/users"))
}

#[derive(Deserialize)]
struct ActiveForm {
    #[serde(default)]
    csrf: String,
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
    let active = form.active == "true";
    let (actor, username) = (user.actor.clone(), path.into_inner());
    call(&state, move |s| s.set_active(&actor, &username, active)).await?;
    Ok(see_other("/admin/users"))
}
