//! Random sequences of payments, deliveries (in order, duplicated, replayed, forged), lost
//! messages and blocks over a small network; the protocol's invariants hold after every step.
