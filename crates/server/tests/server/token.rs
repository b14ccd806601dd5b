//! `recordshop token` and the refusal to serve without a key, through the
//! real binary with a controlled environment: no database anywhere.

use std::process::{Command, Output};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use recordshop_auth::{Principal, TokenKeys};

const SECRET: &str = "the operators' signing secret, over 32 bytes";
const CUSTOMER: &str = "0e92cf1e-7bc4-4f9e-8eb6-3c88627efecb";

/// Runs the binary with `args` and exactly `env` (nothing inherited, so
/// neither a developer's JWT_SECRET nor a DATABASE_URL leaks in).
fn recordshop(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recordshop"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs")
}

fn keys() -> TokenKeys {
    TokenKeys::from_secret(SECRET.as_bytes()).unwrap()
}

/// The token printed, asserting stdout holds it alone.
fn printed_token(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout.trim_end().to_owned()
}

fn lifetime_seconds(token: &str) -> u64 {
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap()
}

#[test]
fn prints_a_staff_token_and_nothing_else() {
    let output = recordshop(&["token", "--role", "staff"], &[("JWT_SECRET", SECRET)]);
    let token = printed_token(&output);
    assert_eq!(keys().verify(&token), Ok(Principal::staff()));
    assert_eq!(lifetime_seconds(&token), 3600, "one hour by default");
}

#[test]
fn names_the_staff_subject_and_takes_a_lifetime() {
    let output = recordshop(
        &[
            "token",
            "--role",
            "staff",
            "--subject",
            "alice",
            "--ttl",
            "12h",
        ],
        &[("JWT_SECRET", SECRET)],
    );
    let token = printed_token(&output);
    assert_eq!(
        keys().verify(&token),
        Ok(Principal::staff_named("alice").unwrap())
    );
    assert_eq!(lifetime_seconds(&token), 12 * 3600);
}

#[test]
fn prints_a_customer_token_with_the_key_from_a_file() {
    let path = std::env::temp_dir().join(format!("recordshop-token-test-{}", std::process::id()));
    std::fs::write(&path, format!("{SECRET}\n")).unwrap();
    let output = recordshop(
        &["token", "--customer", CUSTOMER, "--ttl", "30m"],
        &[("JWT_SECRET_FILE", path.to_str().unwrap())],
    );
    std::fs::remove_file(&path).unwrap();
    let token = printed_token(&output);
    assert_eq!(
        keys().verify(&token),
        Ok(Principal::Customer(CUSTOMER.parse().unwrap()))
    );
    assert_eq!(lifetime_seconds(&token), 30 * 60);
}

/// Arguments, environment, and what the refusal must say.
type Refusal<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn refuses_without_a_key_or_a_clear_principal_with_exit_code_2() {
    let key = [("JWT_SECRET", SECRET)];
    let cases: [Refusal<'_>; 6] = [
        (&["token", "--role", "staff"], &[], "JWT_SECRET"),
        (
            &["token", "--role", "staff"],
            &[("AUTH_DISABLED", "true")],
            "JWT_SECRET_FILE",
        ),
        (&["token"], &key, "--role staff, or --customer"),
        (&["token", "--role", "customer"], &key, "needs --customer"),
        (&["token", "--customer", "42"], &key, "UUID"),
        (
            &["token", "--role", "staff", "--ttl", "90days"],
            &key,
            "30 days",
        ),
    ];
    for (args, env, says) in cases {
        let output = recordshop(args, env);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn the_server_refuses_to_start_without_a_key_before_touching_any_database() {
    for args in [&[][..], &["serve"][..]] {
        let output = recordshop(
            args,
            &[("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")],
        );
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        for var in ["JWT_SECRET", "JWT_SECRET_FILE", "AUTH_DISABLED"] {
            assert!(stderr.contains(var), "{var}: {stderr}");
        }
        assert!(!stderr.contains("connecting"), "{stderr}");
    }
}
