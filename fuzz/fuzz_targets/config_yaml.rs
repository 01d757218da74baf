//! The config loader on arbitrary text: an effective config or an error naming where, never a
//! panic; an accepted config prints as YAML that loads back to the same config.

#![no_main]

use libfuzzer_sys::fuzz_target;
use roost_config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::from_yaml_str(text, None) {
        let again = Config::from_yaml_str(&config.to_yaml(), None).expect("printed config loads");
        assert_eq!(again, config, "to_yaml round trip");
    }
});
