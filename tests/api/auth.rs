use base64::Engine;
use serde_json::{Value, json};

use crate::helpers::*;

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

#[tokio::test]
async fn signup_returns_the_account_without_any_password() {
    let app = spawn_app().await;
    let (status, body) = json_of(
        app.post_json(
            "/signup",
            &json!({"username": "ann_1", "email": "ann@example.com", "password": "secret"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["username"], "ann_1");
    assert_eq!(body["email"], "ann@example.com");
    assert!(body["id"].as_i64().unwrap() >= 1);
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));
    let text = body.to_string();
    assert!(
        !text.contains("secret") && !text.contains("password"),
        "{text}"
    );
}

#[tokio::test]
async fn signup_limits_hold_at_and_just_past_each_boundary() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"username": "abc", "email": "a1@example.com", "password": "123456"}),
            None,
        ),
        (
            json!({"username": "ab", "email": "a2@example.com", "password": "123456"}),
            Some(("string_too_short", "username")),
        ),
        (
            json!({"username": "u".repeat(50), "email": "a3@example.com", "password": "123456"}),
            None,
        ),
        (
            json!({"username": "v".repeat(51), "email": "a4@example.com", "password": "123456"}),
            Some(("string_too_long", "username")),
        ),
        (
            json!({"username": "bad-name", "email": "a5@example.com", "password": "123456"}),
            Some(("string_pattern_mismatch", "username")),
        ),
        (
            json!({"username": "abd", "email": "a6@example.com", "password": "12345"}),
            Some(("string_too_short", "password")),
        ),
        (
            json!({"username": "abe", "email": "a7@example.com", "password": "p".repeat(100)}),
            None,
        ),
        (
            json!({"username": "abf", "email": "a8@example.com", "password": "p".repeat(101)}),
            Some(("string_too_long", "password")),
        ),
        (
            json!({"username": "abg", "email": "not-an-email", "password": "123456"}),
            Some(("value_error", "email")),
        ),
    ];
    for (body, expected) in cases {
        let (status, res) = json_of(app.post_json("/signup", &body).await).await;
        match expected {
            None => assert_eq!(status, 200, "{body} -> {res}"),
            Some((kind, field)) => {
                assert_eq!(status, 422, "{body}");
                assert_eq!(
                    validation_errors(&res),
                    vec![(kind.to_owned(), loc(&["body", field]))],
                    "{body}"
                );
            }
        }
    }
}

#[tokio::test]
async fn every_failing_field_is_named_at_once() {
    let app = spawn_app().await;
    let (status, body) = json_of(app.post_json("/signup", &json!({"username": 5})).await).await;
    assert_eq!(status, 422);
    assert_eq!(
        validation_errors(&body),
        vec![
            ("string_type".to_owned(), loc(&["body", "username"])),
            ("missing".to_owned(), loc(&["body", "email"])),
            ("missing".to_owned(), loc(&["body", "password"])),
        ]
    );
    for e in body["detail"].as_array().unwrap() {
        assert!(e["msg"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[tokio::test]
async fn malformed_or_missing_json_is_a_422_not_a_crash() {
    let app = spawn_app().await;
    for raw in ["{\"username\": ", "[1,2]", "", "null", "\"text\""] {
        let res = app
            .client
            .post(app.url("/signup"))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(res).await;
        assert_eq!(status, 422, "{raw:?}");
        assert!(body["detail"][0]["type"].is_string(), "{raw:?}: {body}");
        assert_eq!(body["detail"][0]["loc"][0], "body");
    }
}

#[tokio::test]
async fn duplicate_usernames_and_emails_are_refused_whatever_their_case() {
    let app = spawn_app().await;
    app.signup("ann").await;
    let (status, body) = json_of(
        app.post_json(
            "/signup",
            &json!({"username": "ANN", "email": "other@example.com", "password": "secret"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["detail"].as_str().unwrap()),
        (400, "Username already taken")
    );
    let (status, body) = json_of(
        app.post_json(
            "/signup",
            &json!({"username": "bob", "email": "Ann@Example.com", "password": "secret"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["detail"].as_str().unwrap()),
        (400, "Email already registered")
    );
}

#[tokio::test]
async fn token_accepts_urlencoded_and_multipart_forms() {
    let app = spawn_app().await;
    app.signup("ann").await;
    let urlencoded = app.login("ann").await;
    assert_eq!(urlencoded["token_type"], "bearer");
    let form = reqwest::multipart::Form::new()
        .text("username", "ann")
        .text("password", PASSWORD);
    let res = app
        .client
        .post(app.url("/token"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(status, 200);
    let token = body["access_token"].as_str().unwrap();
    let me = app.get_auth("/users/me", token).await;
    assert_eq!(me.json::<Value>().await.unwrap()["username"], "ann");
}

#[tokio::test]
async fn wrong_credentials_are_a_401_with_a_bearer_challenge() {
    let app = spawn_app().await;
    app.signup("ann").await;
    for (user, pass) in [("ann", "wrong password"), ("nobody", PASSWORD)] {
        let res = app
            .client
            .post(app.url("/token"))
            .form(&[("username", user), ("password", pass)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        assert_eq!(
            res.json::<Value>().await.unwrap()["detail"],
            "Incorrect username or password"
        );
    }
    let res = app
        .client
        .post(app.url("/token"))
        .form(&[("username", "ann")])
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(res).await;
    assert_eq!(status, 422);
    assert_eq!(
        validation_errors(&body),
        vec![("missing".to_owned(), loc(&["body", "password"]))]
    );
}

#[tokio::test]
async fn protected_routes_refuse_missing_expired_tampered_and_foreign_tokens() {
    let app = spawn_app().await;
    let token = app.user_token("ann").await;
    let now = jsonwebtoken::get_current_timestamp();
    let sign = |claims: Value, key: &[u8]| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(key),
        )
        .unwrap()
    };
    let expired = sign(
        json!({"sub": "1", "username": "ann", "exp": now - 10, "iat": now - 100, "jti": "a"}),
        SECRET,
    );
    let wrong_key = sign(
        json!({"sub": "1", "username": "ann", "exp": now + 600, "iat": now, "jti": "b"}),
        b"another-secret-key-that-is-also-long-enough",
    );
    let alg_none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(
            json!({"sub": "1", "username": "ann", "exp": now + 600, "iat": now, "jti": "c"})
                .to_string()
                .as_bytes()
        )
    );
    // A forged payload (another subject) under the original signature.
    let tampered = {
        let parts: Vec<&str> = token.split('.').collect();
        let forged = b64(
            json!({"sub": "2", "username": "x", "exp": now + 600, "iat": now, "jti": "d"})
                .to_string()
                .as_bytes(),
        );
        format!("{}.{}.{}", parts[0], forged, parts[2])
    };
    let no_such_user = sign(
        json!({"sub": "999", "username": "ghost", "exp": now + 600, "iat": now, "jti": "e"}),
        SECRET,
    );
    for bad in [
        expired,
        wrong_key,
        alg_none,
        tampered,
        "garbage".to_owned(),
        no_such_user,
    ] {
        let res = app.get_auth("/watchlists", &bad).await;
        assert_eq!(res.status(), 401, "{bad}");
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        assert_eq!(
            res.json::<Value>().await.unwrap()["detail"],
            "Could not validate credentials"
        );
    }
    let res = app.get("/watchlists").await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        res.json::<Value>().await.unwrap()["detail"],
        "Not authenticated"
    );
    assert_eq!(app.get_auth("/watchlists", &token).await.status(), 200);
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_replayed_one_ends_the_session() {
    let app = spawn_app().await;
    app.signup("ann").await;
    let first = app.login("ann").await;
    let r1 = first["refresh_token"].as_str().unwrap();
    let (status, second) = json_of(
        app.post_json("/token/refresh", &json!({"refresh_token": r1}))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2);
    assert_eq!(
        app.get_auth("/users/me", second["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );

    // Another session of the same user, which the replay below must not touch.
    let other = app.login("ann").await;

    // r1 again: someone replayed it. The whole family, r2 included, stops
    // working, and so do the access tokens issued in that session.
    let res = app
        .post_json("/token/refresh", &json!({"refresh_token": r1}))
        .await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        app.post_json("/token/refresh", &json!({"refresh_token": r2}))
            .await
            .status(),
        401
    );
    for access in [&first["access_token"], &second["access_token"]] {
        let res = app.get_auth("/users/me", access.as_str().unwrap()).await;
        assert_eq!(res.status(), 401, "an access token of the ended session");
    }
    assert_eq!(
        app.get_auth("/users/me", other["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post_json("/token/refresh", &json!({"refresh_token": "made-up"}))
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn logout_revokes_the_access_token_and_its_session() {
    let app = spawn_app().await;
    app.signup("ann").await;
    let pair = app.login("ann").await;
    let other_device = app.login("ann").await;
    let access = pair["access_token"].as_str().unwrap();
    let res = app
        .post_json_auth(
            "/logout",
            &json!({"refresh_token": pair["refresh_token"]}),
            access,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.get_auth("/watchlists", access).await.status(), 401);
    assert_eq!(
        app.post_json(
            "/token/refresh",
            &json!({"refresh_token": pair["refresh_token"]})
        )
        .await
        .status(),
        401
    );
    // The other device's session is untouched.
    let (status, _) = json_of(
        app.post_json(
            "/token/refresh",
            &json!({"refresh_token": other_device["refresh_token"]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        app.get_auth(
            "/watchlists",
            other_device["access_token"].as_str().unwrap()
        )
        .await
        .status(),
        200
    );
}

#[tokio::test]
async fn a_rejected_password_or_refresh_token_is_never_echoed_back() {
    let app = spawn_app().await;
    let secret = "pw1";
    let long = "s".repeat(101);
    let requests = [
        (
            "/signup",
            json!({"username": "ann", "email": "ann@example.com", "password": secret}),
        ),
        (
            "/signup",
            json!({"username": "ann", "email": "ann@example.com", "password": long}),
        ),
        (
            "/signup",
            json!({"username": "ann", "email": "ann@example.com", "password": 12345678}),
        ),
        ("/token/refresh", json!({"refresh_token": "r".repeat(600)})),
        ("/token/refresh", json!({"refresh_token": 12345678})),
    ];
    for (path, body) in requests {
        let (status, res) = json_of(app.post_json(path, &body).await).await;
        assert_eq!(status, 422, "{body}");
        let text = res.to_string();
        for sent in [secret, long.as_str(), "12345678", "rrrrrrrr"] {
            assert!(!text.contains(sent), "{path} echoed a secret: {text}");
        }
        assert!(res["detail"][0]["loc"].is_array(), "{text}");
    }
}

#[tokio::test]
async fn logging_out_of_a_session_stops_every_access_token_it_issued() {
    let app = spawn_app().await;
    app.signup("ann").await;
    let first = app.login("ann").await;
    let (status, second) = json_of(
        app.post_json(
            "/token/refresh",
            &json!({"refresh_token": first["refresh_token"]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    let res = app
        .post_json_auth(
            "/logout",
            &json!({"refresh_token": second["refresh_token"]}),
            second["access_token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(res.status(), 200);
    // The session's first access token, never presented to /logout, ends too.
    let res = app
        .get_auth("/users/me", first["access_token"].as_str().unwrap())
        .await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn legacy_bcrypt_passwords_log_in_and_are_rehashed_with_argon2id() {
    let app = spawn_app().await;
    app.signup("ann").await;
    let legacy = bcrypt::hash(PASSWORD, 4).unwrap();
    sqlx::query("UPDATE users SET hashed_password = $1 WHERE username = 'ann'")
        .bind(&legacy)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    app.login("ann").await;
    let (stored,): (String,) =
        sqlx::query_as("SELECT hashed_password FROM users WHERE username = 'ann'")
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    app.login("ann").await;
}

#[tokio::test]
async fn only_administrators_manage_users() {
    let app = spawn_app().await;
    let ann = app.user_token("ann").await;
    let bob_id = app.signup("bob").await["id"].as_i64().unwrap();
    assert_eq!(app.get_auth("/users", &ann).await.status(), 403);
    let res = app.delete_auth(&format!("/users/{bob_id}"), &ann).await;
    assert_eq!(res.status(), 403);

    // Promoted behind the server's back (as `marketscout user` would): a new login sees it.
    app.sql("UPDATE users SET is_admin = 1 WHERE username = 'ann'")
        .await;
    let ann = app.login("ann").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, users) = json_of(app.get_auth("/users", &ann).await).await;
    assert_eq!(status, 200);
    assert_eq!(users.as_array().unwrap().len(), 2);
    let res = app.delete_auth(&format!("/users/{bob_id}"), &ann).await;
    assert_eq!(res.status(), 200);
    let res = app.delete_auth(&format!("/users/{bob_id}"), &ann).await;
    assert_eq!(res.status(), 404);
}
