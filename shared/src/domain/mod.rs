//! What the API is about, in its own terms: values that carry their rules
//! ([`values`]), what a client sends turned into them ([`validate`]), and
//! the tasks with every statement that reads or writes them ([`tasks`]).
//! No HTTP here: failures are this layer's own errors, which the web edge
//! turns into the contract.

pub mod tasks;
pub mod validate;
pub mod values;
