//! `/export/{data_type}`: the caller's data as CSV, in the original formats.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ErrorBody, ValidationErrorBody};
use crate::time::csv_time;

/// What to export.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // documents the path parameter; the handler matches the raw segment
enum ExportType {
    Watchlist,
    Trends,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(export))
}

/// The brief's columns for trend scores (`/export/trends`, and the
/// dashboard's trends table).
pub(crate) const TRENDS_HEADER: &[&str] =
    &["Product ID", "Product Name", "Trend Score", "Calculated At"];

/// Spreadsheet programs run cells that start with these as formulas.
fn inert(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

pub(crate) fn write_csv(
    header_row: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
) -> Result<Vec<u8>, ApiError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(header_row)
        .map_err(anyhow::Error::from)?;
    for row in rows {
        writer
            .write_record(row.iter().map(|c| inert(c).into_owned()))
            .map_err(anyhow::Error::from)?;
    }
    writer
        .into_inner()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("{e}")))
}

/// Export the caller's watchlist (`watchlist`) or the score history of their watched products (`trends`) as CSV.
#[utoipa::path(get, path = "/export/{data_type}", tag = "export",
    params(("data_type" = inline(ExportType), Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, content_type = "text/csv", body = String,
            headers(("Content-Disposition" = String))),
        (status = 401, body = ErrorBody, headers(("WWW-Authenticate" = String))),
        (status = 422, description = "Unknown data type", body = ValidationErrorBody),
        (status = 429, body = ErrorBody),
    ))]
async fn export(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(data_type): Path<String>,
) -> Result<Response, ApiError> {
    // The brief's `data_type` is an enum path parameter: another value is
    // FastAPI's 422 naming the choices.
    if !matches!(data_type.as_str(), "watchlist" | "trends") {
        return Err(ApiError::Validation(vec![
            crate::error::FieldError::new(
                vec![serde_json::json!("path"), serde_json::json!("data_type")],
                "enum",
                "Input should be 'watchlist' or 'trends'",
            )
            .with_input(serde_json::Value::String(data_type))
            .with_ctx(serde_json::json!({"expected": "'watchlist' or 'trends'"})),
        ]));
    }
    export_csv(&state, current.user.id, &data_type).await
}

/// The brief's CSV exports of one user's data: the API's and the dashboard's
/// download buttons answer the same file.
pub(crate) async fn export_csv(
    state: &AppState,
    user_id: i64,
    data_type: &str,
) -> Result<Response, ApiError> {
    let body = match data_type {
        "watchlist" => {
            let rows = state.store.watchlist_export(user_id).await?;
            write_csv(
                &["Product ID", "Product Name", "Description", "Added Date"],
                rows.into_iter().map(|r| {
                    vec![
                        r.product_id.to_string(),
                        r.product_name,
                        r.description,
                        csv_time(r.added_at),
                    ]
                }),
            )?
        }
        "trends" => {
            let rows = state.store.trends_export(user_id).await?;
            write_csv(
                TRENDS_HEADER,
                rows.into_iter().map(|(id, name, score, at)| {
                    vec![id.to_string(), name, format!("{score:.1}"), csv_time(at)]
                }),
            )?
        }
        _ => {
            return Err(ApiError::NotFound(
                "Unknown export type: use 'watchlist' or 'trends'".into(),
            ));
        }
    };
    Ok(csv_download(&format!("{data_type}_export.csv"), body))
}

/// A CSV body as a download named `filename`.
pub(crate) fn csv_download(filename: &str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename={filename}"),
            ),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::inert;

    #[test]
    fn formula_cells_are_defused() {
        assert_eq!(inert("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(inert("-5"), "'-5");
        assert_eq!(inert("Lamp"), "Lamp");
    }
}
