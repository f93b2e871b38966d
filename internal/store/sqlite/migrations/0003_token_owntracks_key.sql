-- An agency token may carry the key its OwnTracks phones encrypt with
-- (DESIGN.md "Feed formats accepted": _type "encrypted"). The column holds
-- the key sealed with a key derived from the token itself (auth.SealKey);
-- the token is never stored (only its SHA-256 hash), so a copy of the
-- database alone does not reveal the OwnTracks key. NULL: no key.
ALTER TABLE tokens ADD COLUMN owntracks_key BLOB;
