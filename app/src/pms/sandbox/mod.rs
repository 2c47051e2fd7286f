//! The sandbox practice.
