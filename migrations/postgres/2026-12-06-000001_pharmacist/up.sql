-- The pharmacist role (dispensing: the arm behind a kit code, never results).
ALTER TABLE user_roles DROP CONSTRAINT user_roles_role_check;
ALTER TABLE user_roles ADD CONSTRAINT user_roles_role_check
    CHECK (role IN ('admin', 'statistician', 'coordinator', 'pharmacist', 'dmc', 'regulator'));
