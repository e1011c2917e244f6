-- Sign-in with GitHub (the dashboard and API). Nothing here is usable if the database leaks:
-- ids and states are stored as their SHA-256, tokens and PKCE verifiers encrypted.

-- A sign-in under way: the state GitHub sends back, the PKCE verifier (encrypted), where to
-- go after. Taken once, within ten minutes.
CREATE TABLE login_states (
    state_hash  TEXT    PRIMARY KEY,
    verifier    TEXT    NOT NULL,
    return_to   TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

-- A signed-in browser: its cookie's SHA-256, the user, and the user access token GitHub
-- gave (encrypted), until it expires.
CREATE TABLE sessions (
    id_hash     TEXT    PRIMARY KEY,
    login       TEXT    NOT NULL,
    token       TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
