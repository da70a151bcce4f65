DELETE FROM user_roles WHERE role = 'pharmacist';
CREATE TABLE user_roles_old (
    username TEXT NOT NULL REFERENCES users (username),
    role     TEXT NOT NULL CHECK (role IN ('admin', 'statistician', 'coordinator', 'dmc', 'regulator')),
    PRIMARY KEY (username, role)
) WITHOUT ROWID;
INSERT INTO user_roles_old (username, role) SELECT username, role FROM user_roles;
DROP TABLE user_roles;
ALTER TABLE user_roles_old RENAME TO user_roles;
