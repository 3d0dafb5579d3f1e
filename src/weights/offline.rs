//! The one decision whether kneeclip may download the weights: `--offline`,
//! or, for every command and the viewer at once, the environment.

/// Set to 1 (or true, yes, on), kneeclip downloads nothing, whatever the command.
pub const OFFLINE_ENV: &str = "KNEECLIP_OFFLINE";
/// The Hugging Face tools' own switch, honoured as well (a hospital may set it system-wide).
pub const HF_OFFLINE_ENV: &str = "HF_HUB_OFFLINE";

/// Why no download may be made, for messages: `--offline` when `flag` (the
/// command's own `--offline`), else the variable that says so as it is set
/// (`KNEECLIP_OFFLINE=1`); `None` when a download may be made.
pub fn offline_reason(flag: bool) -> Option<String> {
    offline_reason_in(flag, |name| std::env::var(name).ok())
}

/// [`offline_reason`] without the flag: what the environment says.
pub fn offline_by_environment() -> Option<String> {
    offline_reason(false)
}

fn offline_reason_in(flag: bool, var: impl Fn(&str) -> Option<String>) -> Option<String> {
    if flag {
        return Some("--offline".into());
    }
    // As huggingface_hub reads HF_HUB_OFFLINE: 1, true, yes, on, in any case.
    let on = |v: &str| ["1", "true", "yes", "on"].contains(&v.trim().to_ascii_lowercase().as_str());
    [OFFLINE_ENV, HF_OFFLINE_ENV].into_iter().find_map(|name| var(name).filter(|v| on(v)).map(|v| format!("{name}={}", v.trim())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_variable_set_to_a_true_value_means_offline_and_is_named() {
        let env = |pairs: &'static [(&'static str, &'static str)]| move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        assert_eq!(offline_reason_in(false, env(&[])), None);
        assert_eq!(offline_reason_in(true, env(&[])).as_deref(), Some("--offline"));
        assert_eq!(offline_reason_in(false, env(&[(OFFLINE_ENV, "1")])).as_deref(), Some("KNEECLIP_OFFLINE=1"));
        assert_eq!(offline_reason_in(false, env(&[(HF_OFFLINE_ENV, "TRUE")])).as_deref(), Some("HF_HUB_OFFLINE=TRUE"));
        assert_eq!(offline_reason_in(false, env(&[(HF_OFFLINE_ENV, "0"), (OFFLINE_ENV, "")])), None);
    }
}
