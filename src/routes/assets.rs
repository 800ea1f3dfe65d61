//! `GET /static/{name}`: the CSS and icon, compiled into the binary like the templates, so the
//! one binary runs from any working directory and no request can name a file on disk.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

/// Every file under `static/`: name, content type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../static/style.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../../static/favicon.svg"),
    ),
];

/// A strong ETag per file, computed once: a browser revalidating gets a 304.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|(_, _, bytes)| {
            let digest = Sha256::digest(bytes);
            let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
            format!("\"{hex}\"")
        })
        .collect()
});

pub async fn asset(req: HttpRequest, name: web::Path<String>) -> HttpResponse {
    let Some(index) = FILES.iter().position(|(file, _, _)| *file == name.as_str()) else {
        return HttpResponse::NotFound().finish();
    };
    let (_, content_type, bytes) = FILES[index];
    let etag = &ETAGS[index];
    let revalidated = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    let mut response = if revalidated {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"));
    if revalidated {
        response.finish()
    } else {
        response
            .insert_header((header::CONTENT_TYPE, content_type))
            .body(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_static_file_is_compiled_in() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .expect("static dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect();
        let mut compiled: Vec<String> = FILES.iter().map(|(n, _, _)| (*n).to_owned()).collect();
        on_disk.sort();
        compiled.sort();
        assert_eq!(on_disk, compiled);
    }
}
