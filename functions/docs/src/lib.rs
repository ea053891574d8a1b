//! Swagger UI's files for the docs page, embedded: the one crate of the
//! workspace that needs npm to build (`build.rs` installs the version
//! `swagger-ui/package-lock.json` pins). The docs function serves them,
//! and so does the tests' local server.

use todo_shared::web::handlers::docs::SwaggerUi;

macro_rules! swagger_ui_file {
    ($name:literal) => {
        include_str!(concat!(
            env!("OUT_DIR"),
            "/swagger-ui/node_modules/swagger-ui-dist/",
            $name
        ))
    };
}

/// The files `/docs/swagger-ui-bundle.js` and `/docs/swagger-ui.css` serve.
pub const SWAGGER_UI: SwaggerUi = SwaggerUi {
    script: swagger_ui_file!("swagger-ui-bundle.js"),
    style: swagger_ui_file!("swagger-ui.css"),
};
