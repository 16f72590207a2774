-- Version 7: people. Users an admin added, their personal access tokens (only a SHA-256 of
-- each secret is kept), who created each project, and the people a project is limited to.
CREATE TABLE users (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    is_admin   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE tokens (
    id         INTEGER PRIMARY KEY,
    uuid       TEXT NOT NULL UNIQUE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX tokens_by_user ON tokens (user_id, created_at);

ALTER TABLE projects ADD COLUMN created_by TEXT;

-- A project with rows here is seen by these people (and admins) alone.
CREATE TABLE project_members (
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_name  TEXT NOT NULL,
    PRIMARY KEY (project_id, user_name)
) WITHOUT ROWID;

-- `user:NAME` lists a project's runs by who made them.
CREATE INDEX runs_by_user ON runs (project_id, user, created_at);
