//! The configuration's rules, one variable at a time and together.
use super::*;
use std::collections::HashMap;

fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Settings::from_lookup(|name| map.get(name).cloned())
}

#[test]
fn no_client_id_means_demo_mode_with_defaults() {
    let s = settings(&[]).expect("defaults are valid");
    assert!(s.is_demo_mode());
    assert_eq!(s.provider_url.as_str(), "https://api.rememberizer.ai/");
    assert_eq!(s.scopes, vec!["offline_access".to_owned()]);
    assert_eq!(s.bind_addr.to_string(), "127.0.0.1:8080");
    assert_eq!(s.session_store, SessionStoreKind::Memory);
    assert!(s.app_base_url.is_none());
}

#[test]
fn a_client_id_without_a_secret_names_the_missing_variable() {
    let err = settings(&[("REMEMBERIZER_CLIENT_ID", "abc")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "REMEMBERIZER_CLIENT_SECRET is required when REMEMBERIZER_CLIENT_ID is set"
    );
}

#[test]
fn real_mode_defaults_app_base_url_to_localhost_8080() {
    let s = settings(&[
        ("REMEMBERIZER_CLIENT_ID", "abc"),
        ("REMEMBERIZER_CLIENT_SECRET", "shh"),
    ])
    .expect("valid");
    assert_eq!(
        s.app_base_url.map(|u| u.to_string()),
        Some("http://localhost:8080/".to_owned())
    );
}

#[test]
fn bad_values_name_their_variable() {
    for (var, value) in [
        ("REMEMBERIZER_BASE_URL", "not a url"),
        ("REMEMBERIZER_BASE_URL", "ftp://example.com"),
        ("APP_BASE_URL", "localhost:8080"),
        ("BIND_ADDR", "localhost"),
        ("SESSION_KEY", "too-short"),
        ("SESSION_KEY", "00ff"),
        ("SESSION_STORE", "postgres://x"),
        ("REMEMBERIZER_TIMEOUT_SECS", "0"),
        ("REMEMBERIZER_TIMEOUT_SECS", "soon"),
        ("REMEMBERIZER_CACHE_SECS", "3601"),
        ("REMEMBERIZER_CACHE_SECS", "-1"),
        ("LLM_BASE_URL", "nope"),
    ] {
        let err = settings(&[(var, value)]).unwrap_err().to_string();
        assert!(err.starts_with(var), "{var}={value} gave: {err}");
    }
}

#[test]
fn the_dashboard_cache_lasts_a_minute_unless_set() {
    let ttl = |pairs: &[(&str, &str)]| settings(pairs).expect("valid").profile_cache_ttl;
    assert_eq!(ttl(&[]), Duration::from_secs(60));
    assert_eq!(ttl(&[("REMEMBERIZER_CACHE_SECS", "0")]), Duration::ZERO);
    assert_eq!(
        ttl(&[("REMEMBERIZER_CACHE_SECS", " 5 ")]),
        Duration::from_secs(5)
    );
}

#[test]
fn a_redis_store_needs_a_session_key_and_tls_is_refused_clearly() {
    let err = settings(&[("SESSION_STORE", "redis://127.0.0.1:6379/0")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "SESSION_KEY is required when SESSION_STORE=redis://… is set"
    );
    let key = "ab".repeat(64);
    let ok = settings(&[
        ("SESSION_STORE", "redis://127.0.0.1:6379/0"),
        ("SESSION_KEY", &key),
    ]);
    assert!(ok.is_ok_and(|s| matches!(s.session_store, SessionStoreKind::Redis(_))));
    let err = settings(&[
        ("SESSION_STORE", "rediss://redis.example:6380"),
        ("SESSION_KEY", &key),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("SESSION_STORE") && err.contains("TLS"),
        "{err}"
    );
}

#[test]
fn session_key_accepts_hex_and_base64() {
    let hex = "ab".repeat(64);
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 64]);
    for key in [hex, b64] {
        let s = settings(&[("SESSION_KEY", &key)]).expect("valid key");
        assert_eq!(s.session_key.map(|k| k.0.len()), Some(64));
    }
}

#[test]
fn an_llm_endpoint_needs_a_key_and_a_model() {
    let err = settings(&[("LLM_BASE_URL", "https://llm.example/v1")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "LLM_API_KEY is required when LLM_BASE_URL is set"
    );
    let s = settings(&[
        ("LLM_BASE_URL", "https://llm.example/v1"),
        ("LLM_API_KEY", "k"),
        ("LLM_MODEL", "m"),
    ])
    .expect("valid");
    let llm = s.llm.expect("llm");
    assert_eq!(llm.model, "m");
    assert_eq!(llm.timeout, DEFAULT_LLM_TIMEOUT);
    let err = settings(&[
        ("LLM_BASE_URL", "https://llm.example/v1"),
        ("LLM_API_KEY", "k"),
        ("LLM_MODEL", "m"),
        ("LLM_TIMEOUT_SECS", "0"),
    ])
    .unwrap_err();
    assert!(err.to_string().starts_with("LLM_TIMEOUT_SECS"), "{err}");
}

fn from_vars(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    Settings::from_vars(
        &vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

#[test]
fn any_provider_setting_means_the_real_provider_so_the_rest_is_required() {
    for (vars, message) in [
        (
            vec![("REMEMBERIZER_CLIENT_SECRET", "shh")],
            "REMEMBERIZER_CLIENT_ID is required when REMEMBERIZER_CLIENT_SECRET is set",
        ),
        (
            vec![("REMEMBERIZER_BASE_URL", "https://api.rememberizer.ai")],
            "REMEMBERIZER_CLIENT_ID is required when REMEMBERIZER_CLIENT_ID",
        ),
        (
            vec![("REMEMBERIZER_SCOPE", "offline_access")],
            "REMEMBERIZER_CLIENT_ID is required when REMEMBERIZER_SCOPE is set",
        ),
        (
            vec![("MEMORAM_API_KEY", "k")],
            "MEMORAM_CLIENT_ID is required when MEMORAM_API_KEY is set",
        ),
        (
            vec![("MEMORAM_CLIENT_ID", "id"), ("MEMORAM_API_KEY", "k")],
            "MEMORAM_CLIENT_SECRET is required when MEMORAM_CLIENT_ID is set",
        ),
        (
            vec![("MEMORAM_DASHBOARD_URL", "https://memoram.app/dashboard")],
            "MEMORAM_CLIENT_ID is required when MEMORAM_DASHBOARD_URL is set",
        ),
    ] {
        let error = from_vars(&vars).expect_err(message).to_string();
        // The second case names the first variable of the provider that is set.
        let expected = message.replace(
            "when REMEMBERIZER_CLIENT_ID",
            "when REMEMBERIZER_BASE_URL is set",
        );
        assert_eq!(error, expected);
    }
}

#[test]
fn tuning_variables_do_not_take_a_provider_out_of_demo_mode() {
    let s = from_vars(&[
        ("REMEMBERIZER_TIMEOUT_SECS", "3"),
        ("REMEMBERIZER_CACHE_SECS", "0"),
        ("MEMORAM_CONTENT_CIPHER", "none"),
    ])
    .expect("valid");
    assert!(s.is_demo_mode() && s.memoram_simulated());
}

#[test]
fn memoram_is_simulated_only_in_demo_mode() {
    let real = [
        ("REMEMBERIZER_CLIENT_ID", "id"),
        ("REMEMBERIZER_CLIENT_SECRET", "s"),
    ];
    let s = from_vars(&real).expect("valid");
    assert!(!s.memoram_simulated() && !s.memoram_offered());
    let memoram = [
        ("MEMORAM_CLIENT_ID", "id"),
        ("MEMORAM_CLIENT_SECRET", "s"),
        ("MEMORAM_API_KEY", "k"),
    ];
    let s = from_vars(&memoram).expect("valid");
    assert!(s.is_demo_mode() && !s.memoram_simulated() && s.memoram_offered());
}

#[test]
fn a_misspelt_variable_is_refused_and_the_likely_one_named() {
    for (var, suggestion) in [
        ("REMEMBERIZER_CLIENTID", "REMEMBERIZER_CLIENT_ID"),
        ("REMEMBERIZER_CLIENT_IDS", "REMEMBERIZER_CLIENT_ID"),
        ("MEMORAM_APIKEY", "MEMORAM_API_KEY"),
        ("LLM_TIMEOUT", "LLM_TIMEOUT_SECS"),
    ] {
        let error = from_vars(&[(var, "x")]).expect_err(var).to_string();
        assert_eq!(
            error,
            format!("{var} is not a setting of this app (did you mean {suggestion}?)")
        );
    }
    let error = from_vars(&[("REMEMBERIZER_SOMETHING_ELSE", "x")])
        .expect_err("unknown")
        .to_string();
    assert_eq!(
        error,
        "REMEMBERIZER_SOMETHING_ELSE is not a setting of this app"
    );
    // Others' variables are not this app's business.
    assert!(from_vars(&[("PATH", "/bin"), ("SIMULATOR_BIND", "x")]).is_ok());
}

#[test]
fn demo_mode_stays_on_loopback_and_says_why() {
    for vars in [
        &[("BIND_ADDR", "0.0.0.0:8080")][..],
        // DEMO=1 used to open the demo to other machines, whose browsers were then sent to
        // their own 127.0.0.1: it is no setting now, and the refusal says why.
        &[("BIND_ADDR", "0.0.0.0:8080"), ("DEMO", "1")],
    ] {
        let error = from_vars(vars).expect_err("public bind").to_string();
        assert!(
            error.starts_with("BIND_ADDR=0.0.0.0:8080 is not a loopback address")
                && error.contains("serves this machine only")
                && error.contains("127.0.0.1")
                && !error.contains("DEMO=1"),
            "{error}"
        );
    }
    let error = from_vars(&[("APP_BASE_URL", "https://demo.example.com")])
        .expect_err("public URL")
        .to_string();
    assert!(
        error.starts_with("APP_BASE_URL=https://demo.example.com/"),
        "{error}"
    );
    for local in [
        "http://localhost:8080",
        "http://127.0.0.1:8080",
        "http://[::1]:8080",
    ] {
        assert!(from_vars(&[("APP_BASE_URL", local)]).is_ok(), "{local}");
    }
    assert!(from_vars(&[("BIND_ADDR", "[::1]:8080")]).is_ok());
    // Configured for real, a public address is what production is.
    assert!(from_vars(&[
        ("REMEMBERIZER_CLIENT_ID", "id"),
        ("REMEMBERIZER_CLIENT_SECRET", "s"),
        ("BIND_ADDR", "0.0.0.0:8080"),
        ("APP_BASE_URL", "https://mementos.example.com"),
    ])
    .is_ok());
}

#[test]
fn scopes_are_space_separated() {
    let s = settings(&[
        ("REMEMBERIZER_CLIENT_ID", "abc"),
        ("REMEMBERIZER_CLIENT_SECRET", "shh"),
        ("REMEMBERIZER_SCOPE", "offline_access  read"),
    ])
    .expect("valid");
    assert_eq!(s.scopes, vec!["offline_access", "read"]);
}

#[test]
fn an_app_base_url_with_a_path_is_refused() {
    let err = settings(&[("APP_BASE_URL", "https://example.com/mementos")])
        .expect_err("a path")
        .to_string();
    assert!(
        err.starts_with("APP_BASE_URL is invalid: has a path (/mementos)"),
        "{err}"
    );
    for ok in [
        "https://example.com",
        "https://example.com/",
        "http://localhost:8080",
    ] {
        assert!(settings(&[("APP_BASE_URL", ok)]).is_ok(), "{ok}");
    }
}

#[test]
fn the_whole_answer_may_not_take_less_than_its_first_piece() {
    let llm = [
        ("LLM_BASE_URL", "https://llm.example/v1"),
        ("LLM_API_KEY", "k"),
        ("LLM_MODEL", "m"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut vars = llm.to_vec();
        vars.extend_from_slice(extra);
        settings(&vars)
    };
    let defaults = with(&[]).expect("valid").llm.expect("llm");
    assert_eq!(defaults.total_timeout, DEFAULT_LLM_TOTAL);
    let err = with(&[("LLM_TIMEOUT_SECS", "30"), ("LLM_TOTAL_SECS", "10")])
        .expect_err("shorter")
        .to_string();
    assert!(err.starts_with("LLM_TOTAL_SECS is invalid"), "{err}");
    let long_first = with(&[("LLM_TIMEOUT_SECS", "90")])
        .expect("valid")
        .llm
        .expect("llm");
    assert_eq!(long_first.total_timeout, std::time::Duration::from_secs(90));
    assert!(with(&[("LLM_TOTAL_SECS", "0")]).is_err());
}

#[test]
fn memoram_send_to_llm_is_1_or_0_and_unset_leaves_the_choice_to_the_mode() {
    let memoram = |send: Option<&'static str>| {
        let mut vars = vec![
            ("MEMORAM_CLIENT_ID", "id"),
            ("MEMORAM_CLIENT_SECRET", "s"),
            ("MEMORAM_API_KEY", "k"),
        ];
        vars.extend(send.map(|value| ("MEMORAM_SEND_TO_LLM", value)));
        settings(&vars)
    };
    let send = |value| memoram(Some(value)).expect("valid").memoram.send_to_llm;
    assert_eq!(memoram(None).expect("valid").memoram.send_to_llm, None);
    assert_eq!(send("1"), Some(true));
    assert_eq!(send("true"), Some(true));
    assert_eq!(send(" 0 "), Some(false));
    assert_eq!(send("false"), Some(false));
    assert_eq!(
        send(""),
        None,
        "empty reads as unset, as for every variable"
    );
    for bad in ["yes", "2"] {
        let err = memoram(Some(bad)).expect_err(bad).to_string();
        assert!(
            err.starts_with("MEMORAM_SEND_TO_LLM is invalid"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn trusted_proxies_are_read_and_a_bad_one_is_named() {
    let s = settings(&[("TRUSTED_PROXIES", "10.0.0.0/8, ::1")]).expect("valid");
    assert_eq!(
        s.trusted_proxies,
        crate::auth::exchange_limit::TrustedProxies::parse("10.0.0.0/8 ::1", None).expect("valid")
    );
    let err = settings(&[("TRUSTED_PROXIES", "10.0.0.0/8, lb.internal")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "TRUSTED_PROXIES is invalid: \"lb.internal\" is not an IP address or a CIDR block like 10.0.0.0/8"
    );
    let err = settings(&[("TRUSTED_PROXY_HEADER", "x-real-ip")]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("TRUSTED_PROXY_HEADER is invalid"),
        "{err}"
    );
}

#[test]
fn the_answer_limits_are_checked_and_kept_without_llm_base_url() {
    // Demo mode's answer service is the simulator's: the limits apply to it too.
    let s = settings(&[("LLM_TIMEOUT_SECS", "5"), ("LLM_TOTAL_SECS", "20")]).expect("valid");
    assert!(s.llm.is_none());
    assert_eq!(
        s.llm_limits,
        LlmLimits {
            timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(20),
        }
    );
    for bad in [
        &[("LLM_TIMEOUT_SECS", "soon")][..],
        &[("LLM_TOTAL_SECS", "0")],
        &[("LLM_TIMEOUT_SECS", "30"), ("LLM_TOTAL_SECS", "10")],
    ] {
        let err = settings(bad).expect_err("refused without LLM_BASE_URL too");
        assert!(err.to_string().starts_with("LLM_T"), "{err}");
    }
}

#[test]
fn a_key_or_model_without_a_service_and_a_key_no_header_can_carry_are_refused() {
    for var in ["LLM_API_KEY", "LLM_MODEL"] {
        let err = settings(&[(var, "x")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("LLM_BASE_URL is required when {var} is set")
        );
    }
    let err = settings(&[
        ("LLM_BASE_URL", "https://llm.example/v1"),
        ("LLM_API_KEY", "sk-secret\r\nX-Injected: 1"),
        ("LLM_MODEL", "m"),
    ])
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("LLM_API_KEY is invalid"), "{err}");
    assert!(!err.contains("sk-secret"), "the key is never echoed: {err}");
}

#[test]
fn other_tools_llm_variables_pass_and_near_misses_of_ours_do_not() {
    let from_vars = |vars: &[(&str, &str)]| {
        Settings::from_vars(
            &vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    };
    for other in ["LLM_PROVIDER", "LLM_CACHE_DIR", "LLM_USER_PATH"] {
        from_vars(&[(other, "x")]).unwrap_or_else(|e| panic!("{other}: {e}"));
    }
    let err = from_vars(&[("LLM_MODLE", "m")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "LLM_MODLE is not a setting of this app (did you mean LLM_MODEL?)"
    );
    // Our own prefixes stay strict.
    assert!(from_vars(&[("REMEMBERIZER_ANYTHING", "x")]).is_err());
}

#[test]
fn a_variable_that_is_not_text_is_refused_only_if_it_is_ours() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    let not_text = || OsString::from_vec(vec![0x66, 0x6f, 0x80, 0xff]);
    let others = [(OsString::from("SOME_TOOLS_PATH"), not_text())];
    Settings::from_os_vars(others).expect("another program's variable is left alone");
    let ours = [(OsString::from("SESSION_KEY"), not_text())];
    assert_eq!(
        Settings::from_os_vars(ours).unwrap_err().to_string(),
        "SESSION_KEY is not valid UTF-8 text"
    );
}
