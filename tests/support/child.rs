//! The elastics-sec binary a test runs as a child process. `ELASTICS_SEC_TEST_BIN` swaps in
//! another build of it (the static image binary) and `ELASTICS_SEC_TEST_WRAPPER` runs it
//! under a tool (words split on spaces): scripts/daemon-order.sh runs the Key Vault
//! end-to-end tests this way, under callgrind, to record the functions the Azure paths run.

use std::process::Command;

pub fn command() -> Command {
    let bin = std::env::var_os("ELASTICS_SEC_TEST_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_elastics-sec").into());
    let wrapper = std::env::var("ELASTICS_SEC_TEST_WRAPPER").unwrap_or_default();
    let mut words = wrapper.split_whitespace();
    match words.next() {
        Some(tool) => {
            let mut c = Command::new(tool);
            c.args(words).arg(bin);
            c
        }
        None => Command::new(bin),
    }
}
