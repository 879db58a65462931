//! End-to-end tests of the real `belfry-admin` binary, each in its own
//! temporary organisation directory. The org passphrase comes from
//! `BELFRY_ORG_PASSPHRASE`, and `BELFRY_ADMIN_INSECURE_FAST_KDF=1` keeps
//! Argon2 cheap (the parameters used are recorded in org.json).

mod input_errors;
mod invite;
mod org;
mod statements;
mod support;
mod verify;
