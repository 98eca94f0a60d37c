//! End-to-end tests of the `secc` and `secc-party` binaries. One module per area.
