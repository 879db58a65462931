//! belfry-crypto integration tests: one binary, several modules. Real
//! vodozemac everywhere; hostile parties are built from the same parts a
//! real attacker has (a valid device of their own, or control of the relay).

mod attachments;
mod attacks;
mod debug;
mod flows;
mod interaction;
mod invitation_window;
mod room_state;
mod sas;
mod support;
mod trust;
