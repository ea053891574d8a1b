//! HTTP glue between `lambda_http` and the handlers: the request pipeline
//! ([`serve`]: route, method, deadline, panics, the one log line and metrics
//! line every request gets), the body limit and the request id. The
//! response builders are in `response.rs`, re-exported here.

mod response;

pub use response::*;

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::FutureExt;

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

use crate::observe;
use crate::web::error::{ApiError, Cause};
use crate::web::logging::{self, RequestLog};
use crate::web::routes::{self, Group, Route};

/// The largest request body accepted (the contract's 64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The request body, or 413 when it is over [`MAX_BODY_BYTES`].
/// (`lambda_http` has already decoded a base64-encoded body.)
pub fn body(request: &Request) -> Result<&[u8], ApiError> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(bytes)
}

/// The request path as the client sent it. `uri().path()` carries the API
/// Gateway stage as a prefix when the stage is not `$default`; the raw path
/// never does.
pub fn path(request: &Request) -> &str {
    match request.raw_http_path() {
        "" => request.uri().path(),
        raw => raw,
    }
}

/// The Lambda request id when running under a runtime (also what Lambda
/// prints in its own log lines), else API Gateway's request id.
pub fn request_id(request: &Request) -> String {
    if let Some(context) = request.lambda_context_ref() {
        return context.request_id.clone();
    }
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        _ => None,
    }
    .unwrap_or_else(|| "-".to_owned())
}

/// Runs one route group's `dispatch` for `request` and always returns a
/// response. A path that is none of the group's function's routes is a 404
/// and a method its route does not serve a 405, both before any other
/// check; `dispatch` gets the request's operation, one of its group's. An error becomes its contract-shaped body,
/// and one log line records method, route, status, latency and request id
/// (never headers or bodies, which carry tokens and user data), and, for a
/// 500 or 503, its [`Cause`]: the error's, or one `dispatch` put in its
/// response's extensions (see [`failed_because`]).
///
/// A panic in `dispatch` is a bug, but not the client's problem: it becomes
/// the contract's 500 (with the request id, and the panic in the log) and
/// the container keeps serving. Left to the runtime, it would fail the
/// invocation, and API Gateway would answer its own bare 500.
pub async fn serve<'r, Op, F, Fut>(request: &'r Request, dispatch: F) -> Response<Body>
where
    Op: Group,
    F: FnOnce(Op) -> Fut,
    Fut: Future<Output = Result<Response<Body>, ApiError>> + 'r,
{
    let function = Op::FUNCTION;
    let started = Instant::now();
    let cold_start = observe::cold_start();
    let init = cold_start.then(observe::init_time).flatten();
    let request_id = request_id(request);
    let route = routes::find_own::<Op>(path(request));
    let (outcome, facts) = observe::gather(async {
        if let Some(header) = request
            .lambda_context_ref()
            .and_then(|c| c.xray_trace_id.as_deref())
        {
            observe::traced(header);
        }
        let Some((route, own)) = route else {
            return Err(ApiError::RouteNotFound);
        };
        // A CORS preflight that reaches us (API Gateway routes OPTIONS to an
        // ANY route): answer it, and API Gateway adds the configured CORS
        // headers. Plain OPTIONS callers learn the methods from `Allow`.
        if request.method() == Method::OPTIONS {
            return Ok(options(route));
        }
        let operation = own
            .iter()
            .find(|(method, _)| method == request.method())
            .map(|&(_, operation)| operation)
            .ok_or_else(|| unsupported(route))?;
        let handled = AssertUnwindSafe(dispatch(operation)).catch_unwind();
        crate::deadline::within(deadline(request), handled)
            .await
            .unwrap_or_else(|panic| Err(ApiError::internal(panic_message(&*panic))))
    })
    .await;
    let error_code = outcome.as_ref().err().map(|error| error.code().as_str());
    let (mut response, cause) = match outcome {
        Ok(mut response) => {
            let cause = response.extensions_mut().remove::<Cause>();
            (response, cause)
        }
        Err(error) => (self::error(&error, &request_id), error.cause().cloned()),
    };
    secure(&mut response);
    logging::request(RequestLog {
        method: request.method().clone(),
        function: function.name(),
        route: route.map_or("-", |(route, _)| route.path),
        status: response.status().as_u16(),
        error: error_code.unwrap_or("-"),
        latency: started.elapsed(),
        cold_start,
        init,
        request_id,
        apigw_request_id: apigw_request_id(request).unwrap_or("-").to_owned(),
        trace_id: trace_id(request).unwrap_or("-").to_owned(),
        facts,
        cause,
        now: SystemTime::now(),
    });
    response
}

/// API Gateway's id of the request (in its access log), when it came
/// through API Gateway.
fn apigw_request_id(request: &Request) -> Option<&str> {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.as_deref(),
        _ => None,
    }
}

/// The X-Ray trace id of the invocation (`Root=1-...`), when Lambda traces it.
fn trace_id(request: &Request) -> Option<&str> {
    let header = request.lambda_context_ref()?.xray_trace_id.as_deref()?;
    header
        .split(';')
        .find_map(|part| part.strip_prefix("Root="))
        .or(Some(header))
}

/// The contract's 404 for a path no function serves, as API Gateway's
/// `$default` route (and the local server) answers it.
pub fn route_not_found(request: &Request) -> Response<Body> {
    let mut response = error(&ApiError::RouteNotFound, &request_id(request));
    secure(&mut response);
    response
}

/// Headers every response carries: browsers must not guess a type other
/// than the one sent (a JSON body read as HTML would run as a page), and
/// nothing about this API's URLs leaks to other sites through `Referer`.
fn secure(response: &mut Response<Body>) {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// Kept back from the invocation's deadline to finish the response: log it,
/// serialise it, and hand it to Lambda.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

/// When the request must be answered by: the Lambda invocation's deadline
/// less [`DEADLINE_MARGIN`], when it runs under a Lambda runtime. A deadline
/// already past when the request starts says nothing (Lambda never delivers
/// such an invocation; `cargo lambda watch` sends the constant 600000, a
/// moment in 1970) and bounds nothing.
fn deadline(request: &Request) -> Option<Instant> {
    let context = request.lambda_context_ref()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
    let left = Duration::from_millis(context.deadline).checked_sub(now)?;
    Some(Instant::now() + left.saturating_sub(DEADLINE_MARGIN))
}

/// What a panic said, for the log.
fn panic_message(panic: &(dyn Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    format!("handler panicked: {text}")
}

/// `204` with `Allow` listing the route's methods and OPTIONS.
fn options(route: &Route) -> Response<Body> {
    let mut response = empty(StatusCode::NO_CONTENT);
    let allow = format!("{}, OPTIONS", route.allow_header());
    if let Ok(value) = HeaderValue::try_from(allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

/// The 405 for a method `route` does not serve.
pub fn unsupported(route: &Route) -> ApiError {
    ApiError::MethodNotAllowed(route.allow_header())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `events/` fixture of `GET /health`, as a request.
    fn health_request() -> Request {
        lambda_http::request::from_str(include_str!("../../../../events/health.json")).unwrap()
    }

    #[tokio::test]
    async fn a_panicking_handler_is_the_contracts_500_and_the_next_request_is_served() {
        let request = health_request();
        let response = serve(&request, |_: routes::HealthOp| async {
            panic!("a bug");
        })
        .await;
        assert_eq!(response.status(), 500);
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["error"]["code"], "INTERNAL_ERROR");
        assert_eq!(body["error"]["details"]["request_id"], request_id(&request));
        assert!(!body.to_string().contains("a bug"), "no internals: {body}");
        let response = serve(&request, |_: routes::HealthOp| async {
            Ok(json(StatusCode::OK, &serde_json::json!({"ok": true})))
        })
        .await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
}
