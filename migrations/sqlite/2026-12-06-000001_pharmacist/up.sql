-- The pharmacist role (dispensing: the arm behind a kit code, never results). SQLite cannot
-- change a CHECK constraint in place: the table is rebuilt with its rows.
CREATE TABLE user_roles_new (
    username TEXT NOT NULL REFERENCES users (username),
    role     TEXT NOT NULL CHECK (role IN ('admin', 'statistician', 'coordinator', 'pharmacist', 'dmc', 'regulator')),
    PRIMARY KEY (username, role)
) WITHOUT ROWID;
INSERT INTO user_roles_new (username, role) SELECT username, role FROM user_roles;
DROP TABLE user_roles;
ALTER TABLE user_roles_new RENAME TO user_roles;
