//! Pure verification of confidential-computing evidence.
