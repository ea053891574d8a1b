//! The local API server (`todo_tests::server`, what schemathesis runs
//! against): its HTTP request → API Gateway event conversion equals API
//! Gateway's own events (the `events/` fixtures) once `lambda_http` has
//! parsed both, and it serves the real handlers over HTTP.

use std::net::IpAddr;
use std::sync::Arc;

use lambda_http::http::{self, Request};
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use serde_json::{Value, json};
use todo_tests::server::{self, Functions};
use todo_tests::*;

/// The HTTP request API Gateway received for a fixture's event.
fn http_request(event: &Value) -> (http::request::Parts, Vec<u8>) {
    let mut uri = event["rawPath"].as_str().unwrap().to_owned();
    let query = event["rawQueryString"].as_str().unwrap_or_default();
    if !query.is_empty() {
        uri = format!("{uri}?{query}");
    }
    let mut request = Request::builder()
        .method(event["requestContext"]["http"]["method"].as_str().unwrap())
        .uri(uri);
    for (name, value) in event["headers"].as_object().unwrap() {
        request = request.header(name, value.as_str().unwrap());
    }
    let (parts, ()) = request.body(()).unwrap().into_parts();
    let body = event["body"]
        .as_str()
        .unwrap_or_default()
        .as_bytes()
        .to_vec();
    (parts, body)
}

/// What a handler can see of a request, in a comparable form.
fn seen(request: &lambda_http::Request) -> Value {
    let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
        panic!("an API Gateway v2 request context");
    };
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    let params = |map: lambda_http::aws_lambda_events::query_map::QueryMap| {
        let mut pairs: Vec<(String, Vec<String>)> = map
            .iter()
            .map(|(k, _)| {
                (
                    k.to_owned(),
                    map.all(k).unwrap().iter().map(|v| v.to_string()).collect(),
                )
            })
            .collect();
        pairs.sort();
        pairs
    };
    json!({
        "method": request.method().as_str(),
        "uri": request.uri().to_string(),
        "raw_path": request.raw_http_path(),
        "headers": headers,
        "body": String::from_utf8_lossy(request.body().as_ref()),
        "path_parameters": params(request.path_parameters()),
        "query": params(request.query_string_parameters()),
        "route_key": context.route_key,
        "stage": context.stage,
        "http": {
            "method": context.http.method.as_str(),
            "path": context.http.path,
            "protocol": context.http.protocol,
            "source_ip": context.http.source_ip,
        },
    })
}

#[test]
fn events_equal_api_gateways_as_lambda_http_parses_them() {
    let mut fixtures = 0;
    for entry in std::fs::read_dir(root().join("events")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(name) = name.strip_suffix(".json") else {
            continue;
        };
        let original = Event::fixture(name);
        let (parts, body) = http_request(original.json());
        let source: IpAddr = original.json()["requestContext"]["http"]["sourceIp"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let ours = server::event(&parts, &body, source);
        let ours = lambda_http::request::from_str(&ours.to_string()).expect("a valid event");
        assert_eq!(seen(&ours), seen(&original.request()), "events/{name}.json");
        fixtures += 1;
    }
    assert!(fixtures >= 7, "{fixtures} fixtures");
}

/// What the fixtures do not show: repeated and encoded query parameters
/// (API Gateway joins repeats with commas), encoded path parameters,
/// cookies, a binary body, and a path no route serves.
#[test]
fn queries_cookies_and_bodies_as_api_gateway_sends_them() {
    let (parts, ()) = Request::builder()
        .method("GET")
        .uri("/api/tasks/4%32?limit=1&limit=2&q=a%20b&flag")
        .header("cookie", "a=1; b=2")
        .header("x-twice", "one")
        .header("x-twice", "two")
        .body(())
        .unwrap()
        .into_parts();
    let event = server::event(&parts, &[0xff, 0x00], "127.0.0.1".parse().unwrap());
    assert_eq!(event["routeKey"], "ANY /api/tasks/{id}");
    assert_eq!(event["rawPath"], "/api/tasks/4%32");
    assert_eq!(event["pathParameters"], json!({"id": "42"}));
    assert_eq!(
        event["queryStringParameters"],
        json!({"limit": "1,2", "q": "a b", "flag": ""})
    );
    assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
    assert_eq!(event["headers"]["x-twice"], "one,two");
    assert!(event["headers"].get("cookie").is_none());
    assert_eq!(
        (event["body"].as_str(), &event["isBase64Encoded"]),
        (Some("/wA="), &json!(true))
    );
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    assert!(matches!(request.body(), Body::Binary(b) if b == &[0xff, 0x00]));

    let (parts, ()) = Request::builder()
        .uri("/nowhere")
        .body(())
        .unwrap()
        .into_parts();
    let event = server::event(&parts, b"", "127.0.0.1".parse().unwrap());
    assert_eq!(event["routeKey"], "$default");
    assert!(event.get("pathParameters").is_none() && event.get("body").is_none());
}

/// Over real HTTP: a task created, read and listed through the server is in
/// the table; an unknown path is the contract's 404.
#[tokio::test]
async fn serves_the_real_handlers_over_http() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(server::serve(
        listener,
        Arc::new(Functions::new(state())),
        None,
    ));
    let user = unique_user("local-server");
    let title = format!("served {user}");
    let (token, body) = (token(&user), json!({"title": title}).to_string());
    let replies = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let auth = format!("Bearer {token}");
        let read = |mut response: ureq::http::Response<ureq::Body>| {
            let location = response
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned());
            let status = response.status().as_u16();
            let body: Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap())
                .unwrap_or(Value::Null);
            (status, location, body)
        };
        let created = read(
            agent
                .post(format!("{base}/api/tasks"))
                .header("authorization", &auth)
                .send(&body)
                .unwrap(),
        );
        let location = created.1.clone().unwrap_or_default();
        let fetched = read(
            agent
                .get(format!("{base}{location}"))
                .header("authorization", &auth)
                .call()
                .unwrap(),
        );
        let missing = read(agent.get(format!("{base}/api/nothing")).call().unwrap());
        (created, fetched, missing)
    })
    .await
    .unwrap();
    server.abort();
    let (created, fetched, missing) = replies;
    assert_eq!(created.0, 201, "{}", created.2);
    let id = created.2["id"].as_i64().unwrap();
    assert_eq!(created.1, Some(format!("/api/tasks/{id}")));
    assert_eq!((fetched.0, &fetched.2["title"]), (200, &json!(title)));
    assert_eq!(missing.0, 404);
    assert_eq!(missing.2["error"]["code"], "NOT_FOUND");
    let row = task_row(&pg().await, id).await.expect("the row");
    assert_eq!(
        (row["user_id"].as_str(), row["title"].as_str()),
        (Some(user.as_str()), Some(title.as_str()))
    );
}
