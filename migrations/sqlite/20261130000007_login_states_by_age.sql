-- Every sign-in begun deletes those older than ten minutes: by this index, not a scan.
CREATE INDEX login_states_by_age ON login_states (created_at);
