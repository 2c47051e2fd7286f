//! The practice doctor, black-box: `GET /practices/{account_id}/health` on the local profile
//! (the sandbox practice, and a practice behind the Sikka emulator with each of its faults), and
//! on the `aws` profile against moto, through the route and through `cargo xtask doctor`.

mod aws;
mod common;
mod faults;
mod route;
