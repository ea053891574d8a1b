//! API Gateway's CORS, as the HTTP API's `CorsConfiguration` in
//! `template.yaml` makes it answer, for the local server: a browser on
//! another origin then meets locally what a deployed stack lets through
//! (`cargo lambda watch` allows every origin and header, so it shows no CORS
//! mistake). API Gateway answers a preflight itself, without calling a
//! function, and adds the CORS headers to a function's response when the
//! request's origin is allowed.

use lambda_http::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_yaml_ng::Value;

/// `template.yaml`'s HttpApi `CorsConfiguration`: the configuration inside
/// its always-true `!If` (see the comment there).
pub fn template_configuration() -> Value {
    let text = std::fs::read_to_string(crate::root().join("template.yaml")).unwrap();
    let template: Value = serde_yaml_ng::from_str(&text).unwrap();
    let cors = &template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"];
    let Value::Tagged(tagged) = cors else {
        panic!("CorsConfiguration: an !If (see the comment there)")
    };
    assert_eq!(tagged.tag, "If");
    tagged.value[1].clone()
}

/// The template's CORS configuration, for given origins.
#[derive(Debug, Clone)]
pub struct Cors {
    origins: Vec<String>,
    methods: Vec<String>,
    allow_headers: Vec<String>,
    expose_headers: Vec<String>,
    max_age: u64,
}

impl Cors {
    /// [`template_configuration`], with `frontend_url` as the `FrontendUrl`
    /// parameter (comma-separated origins, split as the template's `!Split`
    /// does).
    pub fn from_template(frontend_url: &str) -> Self {
        let cors = &template_configuration();
        let list = |key: &str| -> Vec<String> {
            cors[key]
                .as_sequence()
                .unwrap_or_else(|| panic!("CorsConfiguration.{key}"))
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            cors["AllowCredentials"], false,
            "credentials are not emulated"
        );
        Cors {
            origins: frontend_url.split(',').map(str::to_owned).collect(),
            methods: list("AllowMethods"),
            allow_headers: list("AllowHeaders"),
            expose_headers: list("ExposeHeaders"),
            max_age: cors["MaxAge"].as_u64().expect("CorsConfiguration.MaxAge"),
        }
    }

    fn allowed_origin<'a>(&self, headers: &'a HeaderMap) -> Option<&'a HeaderValue> {
        let origin = headers.get(header::ORIGIN)?;
        let text = origin.to_str().ok()?;
        self.origins.iter().any(|o| o == text).then_some(origin)
    }

    /// API Gateway's own answer when `method` and `headers` are a preflight
    /// (OPTIONS with `Origin` and `Access-Control-Request-Method`): 204, with
    /// the CORS headers only when the origin, the method and every requested
    /// header are allowed. `None`: not a preflight.
    pub fn preflight(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Option<(StatusCode, HeaderMap)> {
        if method != Method::OPTIONS
            || !headers.contains_key(header::ORIGIN)
            || !headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return None;
        }
        let mut answer = HeaderMap::new();
        let requested_method = headers[header::ACCESS_CONTROL_REQUEST_METHOD]
            .to_str()
            .unwrap_or_default();
        let requested_headers: Vec<String> = headers
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        let method_allowed = self.methods.iter().any(|m| m == requested_method);
        let headers_allowed = requested_headers.iter().all(|requested| {
            self.allow_headers
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(requested))
        });
        if let Some(origin) = self.allowed_origin(headers)
            && method_allowed
            && headers_allowed
        {
            let join = |list: &[String]| HeaderValue::try_from(list.join(",")).unwrap();
            answer.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            answer.insert(header::ACCESS_CONTROL_ALLOW_METHODS, join(&self.methods));
            answer.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                join(&self.allow_headers),
            );
            answer.insert(header::ACCESS_CONTROL_MAX_AGE, self.max_age.into());
        }
        Some((StatusCode::NO_CONTENT, answer))
    }

    /// The headers API Gateway adds to a function's response to a request
    /// from an allowed origin.
    pub fn decorate(&self, request: &HeaderMap, response: &mut HeaderMap) {
        if let Some(origin) = self.allowed_origin(request) {
            response.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            let exposed = HeaderValue::try_from(self.expose_headers.join(",")).unwrap();
            response.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, exposed);
        }
    }
}
