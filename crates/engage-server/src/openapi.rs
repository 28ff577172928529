//! The OpenAPI 3.1 description served at `/openapi.json`, written by hand.

use engage_metrics::METRICS;
use serde_json::{Value, json};

fn nullable(kind: &str) -> Value {
    json!({ "type": [kind, "null"] })
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn error(description: &str) -> Value {
    json_response(description, json!({ "$ref": "#/components/schemas/Error" }))
}

fn html(description: &str) -> Value {
    json!({ "description": description, "content": { "text/html": { "schema": { "type": "string" } } } })
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema })
}

fn repeated(name: &str, description: &str) -> Value {
    json!({
        "name": name, "in": "query", "required": false, "description": description,
        "style": "form", "explode": true,
        "schema": { "type": "array", "items": { "type": "string", "minLength": 1 } }
    })
}

/// The options of `engage metrics` as query parameters.
fn metric_parameters(with_compare: bool) -> Vec<Value> {
    let mut p = vec![
        query(
            "from",
            "First local date inside the window (default: 30 days before `to`).",
            json!({ "type": "string", "format": "date" }),
        ),
        query(
            "to",
            "First local date after the window (default: tomorrow).",
            json!({ "type": "string", "format": "date" }),
        ),
        query(
            "tz",
            "IANA time zone of the dates and buckets (default UTC).",
            json!({ "type": "string", "example": "Europe/Warsaw" }),
        ),
        query("by", "Buckets.", json!({ "type": "string", "enum": ["day", "week", "month", "none"] })),
        repeated("connection", "Only this connection (repeatable)."),
        repeated("channel", "Only tickets and interactions of this channel (repeatable)."),
        repeated("location", "Only reviews of this location or app (repeatable)."),
        query(
            "reference",
            "Compute in Rust over the rows instead of in the database.",
            json!({ "type": "boolean" }),
        ),
        query(
            "csat_neutral",
            "CSAT: the neutral midpoint counts as negative, or leaves the denominator.",
            json!({ "type": "string", "enum": ["negative", "exclude"] }),
        ),
        query("all_opens", "Open rates count machine opens too.", json!({ "type": "boolean" })),
        query(
            "one_touch",
            "One-touch variant.",
            json!({ "type": "string", "enum": ["strict", "zendesk-legacy"] }),
        ),
        query(
            "positive_stars",
            "A review is positive at this many stars or more.",
            json!({ "type": "number", "minimum": 1, "maximum": 5 }),
        ),
        query("ces_points", "CES scale.", json!({ "type": "integer", "minimum": 2, "maximum": 100 })),
        repeated("engagement_kinds", "Social interaction kinds that count as engagements."),
    ];
    if with_compare {
        p.push(query(
            "compare",
            "Also compute the previous period of the same length.",
            json!({ "type": "boolean" }),
        ));
    }
    p
}

fn schemas() -> Value {
    let point = json!({
        "type": "object",
        "required": ["bucket", "period", "value", "n", "details"],
        "properties": {
            "bucket": { "type": "string" },
            "period": {
                "type": "object", "required": ["from", "to"],
                "properties": { "from": { "type": "string", "format": "date-time" }, "to": { "type": "string", "format": "date-time" } }
            },
            "value": nullable("number"),
            "n": { "type": "integer", "minimum": 0 },
            "details": {
                "type": "array",
                "items": { "type": "array", "prefixItems": [{ "type": "string" }, { "type": ["number", "null"] }], "minItems": 2, "maxItems": 2 }
            }
        }
    });
    let report = json!({
        "type": "object",
        "required": ["metric", "unit", "variant", "tz", "computed_by", "total", "buckets", "previous", "change"],
        "properties": {
            "metric": { "type": "string" },
            "unit": { "type": "string" },
            "variant": { "type": "string" },
            "tz": { "type": "string" },
            "computed_by": { "type": "string", "enum": ["sql", "reference"] },
            "total": { "$ref": "#/components/schemas/Point" },
            "buckets": { "type": "array", "items": { "$ref": "#/components/schemas/Point" } },
            "previous": { "anyOf": [{ "$ref": "#/components/schemas/Point" }, { "type": "null" }] },
            "change": nullable("number")
        }
    });
    let definition = json!({
        "type": "object",
        "required": ["metric", "group", "title", "unit", "formula", "edge_cases", "variant"],
        "properties": {
            "metric": { "type": "string" }, "group": { "type": "string" }, "title": { "type": "string" },
            "unit": { "type": "string" }, "formula": { "type": "string" }, "edge_cases": { "type": "string" },
            "variant": { "type": "string" }
        }
    });
    let customer_page = json!({
        "type": "object",
        "required": ["total", "offset", "limit", "customers"],
        "properties": {
            "total": { "type": "integer", "minimum": 0 },
            "offset": { "type": "integer", "minimum": 0 },
            "limit": { "type": "integer", "minimum": 1 },
            "customers": {
                "type": "array",
                "items": {
                    "type": "object", "required": ["customer_id", "email", "name"],
                    "properties": { "customer_id": { "type": "integer" }, "email": nullable("string"), "name": nullable("string") }
                }
            }
        }
    });
    let customer = json!({
        "type": "object",
        "required": ["email", "keys", "timeline", "score", "clv"],
        "properties": {
            "email": { "type": "string" },
            "keys": { "type": "array", "items": { "type": "object", "description": "{\"Source\": [connection, id]}, {\"Email\": email} or {\"Phone\": digits}" } },
            "timeline": {
                "type": "array",
                "items": {
                    "type": "object", "required": ["at", "connection", "channel", "kind", "value"],
                    "properties": {
                        "at": { "type": "string", "format": "date-time" }, "connection": { "type": "string" },
                        "channel": { "type": "string" }, "kind": { "type": "string" }, "value": nullable("number")
                    }
                }
            },
            "score": {
                "type": "object", "required": ["total", "band", "components"],
                "properties": {
                    "total": nullable("number"),
                    "band": { "type": ["string", "null"], "enum": ["champion", "engaged", "at_risk", "dormant", null] },
                    "components": {
                        "type": "array",
                        "items": {
                            "type": "object", "required": ["name", "score", "weight", "effective_weight", "signals"],
                            "properties": {
                                "name": { "type": "string" }, "score": nullable("number"), "weight": { "type": "number" },
                                "effective_weight": nullable("number"), "signals": { "type": "integer", "minimum": 0 }
                            }
                        }
                    }
                }
            },
            "clv": { "type": ["object", "null"] }
        }
    });
    let status_row = json!({
        "type": "object",
        "required": ["connection", "stream", "status", "stored_records"],
        "properties": {
            "connection": { "type": "string" }, "stream": { "type": "string" }, "status": nullable("string"),
            "finished_at": nullable("string"), "pages": nullable("integer"), "records": nullable("integer"),
            "error": nullable("string"), "last_success_at": nullable("string"), "last_failure_at": nullable("string"),
            "last_failure_error": nullable("string"), "stored_records": { "type": "integer" },
            "schedule": nullable("string"), "next_due_at": nullable("string"), "holder": nullable("string"),
            "lease_expires_at": nullable("string"), "waiting": nullable("string")
        }
    });
    let run = json!({
        "type": "object",
        "required": ["run_id", "connection", "stream", "status", "started_at", "pages", "records", "quarantined"],
        "properties": {
            "run_id": { "type": "integer" }, "connection": { "type": "string" }, "stream": { "type": "string" },
            "status": { "type": "string" }, "started_at": { "type": "string" }, "finished_at": nullable("string"),
            "pages": { "type": "integer" }, "records": { "type": "integer" }, "quarantined": { "type": "integer" },
            "error": nullable("string")
        }
    });
    json!({
        "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "string" } } },
        "Point": point,
        "Report": report,
        "MetricDefinition": definition,
        "CustomerPage": customer_page,
        "Customer": customer,
        "StreamStatus": status_row,
        "SyncRun": run,
    })
}

/// The description of this server's endpoints; `/metrics` only when the server runs inside
/// `engage run`, the bearer scheme only when a token is configured.
pub fn openapi(with_prometheus: bool, secured: bool) -> Value {
    let names: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
    let bad = error("An option is invalid.");
    let mut metric_with_name = vec![json!({
        "name": "name", "in": "path", "required": true, "schema": { "type": "string", "enum": names }
    })];
    metric_with_name.extend(metric_parameters(true));
    let mut paths = json!({
        "/healthz": { "get": {
            "operationId": "healthz", "summary": "Whether the store answers.",
            "responses": {
                "200": json_response("The store answers.", json!({ "type": "object", "required": ["status"], "properties": { "status": { "const": "ok" } } })),
                "503": json_response("The store does not answer.", json!({ "type": "object", "required": ["status"], "properties": { "status": { "type": "string" } } }))
            }
        }},
        "/openapi.json": { "get": {
            "operationId": "openapi", "summary": "This description.",
            "responses": { "200": json_response("OpenAPI 3.1.", json!({ "type": "object" })) }
        }},
        "/api/metrics": { "get": {
            "operationId": "listMetrics", "summary": "Every metric's definition (`engage metrics list`).",
            "responses": { "200": json_response("The catalogue.", json!({ "type": "array", "items": { "$ref": "#/components/schemas/MetricDefinition" } })) }
        }},
        "/api/metrics/overview": { "get": {
            "operationId": "overview", "summary": "The headline metrics by channel with the previous period (`engage metrics overview`).",
            "parameters": metric_parameters(false),
            "responses": {
                "200": json_response("One report per headline metric.", json!({ "type": "array", "items": { "$ref": "#/components/schemas/Report" } })),
                "400": bad.clone(),
                "500": error("The store failed.")
            }
        }},
        "/api/metrics/{name}": { "get": {
            "operationId": "metric", "summary": "One metric over a window (`engage metrics NAME`).",
            "parameters": metric_with_name,
            "responses": {
                "200": json_response("The metric.", json!({ "$ref": "#/components/schemas/Report" })),
                "400": bad.clone(),
                "404": error("No metric has this name."),
                "500": error("The store failed.")
            }
        }},
        "/api/customers": { "get": {
            "operationId": "customers", "summary": "Unified customers in id order.",
            "parameters": [
                query("q", "Only customers whose email or name contains this (case-insensitive).", json!({ "type": "string" })),
                query("limit", "Page size.", json!({ "type": "integer", "minimum": 1, "maximum": 500 })),
                query("offset", "Customers skipped.", json!({ "type": "integer", "minimum": 0, "maximum": 4_294_967_295_u64 }))
            ],
            "responses": {
                "200": json_response("A page of customers.", json!({ "$ref": "#/components/schemas/CustomerPage" })),
                "400": bad.clone(),
                "500": error("The store failed.")
            }
        }},
        "/api/customers/{email}": { "get": {
            "operationId": "customer", "summary": "One customer whole: keys, score breakdown, CLV, timeline (`engage customers show`).",
            "parameters": [
                json!({ "name": "email", "in": "path", "required": true, "schema": { "type": "string", "minLength": 1 } }),
                query("tz", "Time zone of the CLV calibration date (default UTC).", json!({ "type": "string" }))
            ],
            "responses": {
                "200": json_response("The customer.", json!({ "$ref": "#/components/schemas/Customer" })),
                "400": bad.clone(),
                "404": error("No customer is known by this email."),
                "500": error("The store failed.")
            }
        }},
        "/api/status": { "get": {
            "operationId": "status", "summary": "Per connection and stream: latest run, last success and failure, records, schedule (`engage status`).",
            "responses": {
                "200": json_response("The streams.", json!({ "type": "array", "items": { "$ref": "#/components/schemas/StreamStatus" } })),
                "500": error("The store failed.")
            }
        }},
        "/api/status/runs": { "get": {
            "operationId": "runs", "summary": "The most recent sync runs (`engage status --runs`).",
            "parameters": [query("limit", "How many.", json!({ "type": "integer", "minimum": 1, "maximum": 1000 }))],
            "responses": {
                "200": json_response("Runs, newest first.", json!({ "type": "array", "items": { "$ref": "#/components/schemas/SyncRun" } })),
                "400": bad.clone(),
                "500": error("The store failed.")
            }
        }},
        "/": { "get": {
            "operationId": "dashboard", "summary": "Dashboard: the overview by channel with trend charts and sync status.",
            "parameters": metric_parameters(false),
            "responses": { "200": html("The page."), "400": html("An option is invalid."), "500": html("The store failed.") }
        }},
        "/customers": { "get": {
            "operationId": "customersPage", "summary": "Dashboard: the customers.",
            "parameters": [
                query("q", "Search.", json!({ "type": "string" })),
                query("limit", "Page size.", json!({ "type": "integer", "minimum": 1, "maximum": 500 })),
                query("offset", "Customers skipped.", json!({ "type": "integer", "minimum": 0, "maximum": 4_294_967_295_u64 }))
            ],
            "responses": { "200": html("The page."), "400": html("An option is invalid."), "500": html("The store failed.") }
        }},
        "/customers/{email}": { "get": {
            "operationId": "customerPage", "summary": "Dashboard: one customer.",
            "parameters": [
                json!({ "name": "email", "in": "path", "required": true, "schema": { "type": "string", "minLength": 1 } }),
                query("tz", "Time zone.", json!({ "type": "string" }))
            ],
            "responses": { "200": html("The page."), "400": html("An option is invalid."), "404": html("Unknown customer."), "500": html("The store failed.") }
        }},
        "/status": { "get": {
            "operationId": "statusPage", "summary": "Dashboard: sync status per connection and stream.",
            "responses": { "200": html("The page."), "500": html("The store failed.") }
        }},
    });
    if with_prometheus && let Some(p) = paths.as_object_mut() {
        p.insert(
            "/metrics".into(),
            json!({ "get": {
                "operationId": "prometheus", "summary": "The runner's metrics in the Prometheus text format.",
                "responses": { "200": { "description": "Prometheus text.", "content": { "text/plain": { "schema": { "type": "string" } } } } }
            }}),
        );
    }
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Engage",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Read-only access to the store's engagement metrics, customers and sync status. Rates are ratios in [0, 1]; a value without data is null."
        },
        "paths": paths,
        "components": { "schemas": schemas() },
    });
    if secured {
        let unauthorized = error("No valid bearer token.");
        if let Some(paths) = doc["paths"].as_object_mut() {
            for item in paths.values_mut() {
                if let Some(responses) = item["get"]["responses"].as_object_mut() {
                    responses.insert("401".into(), unauthorized.clone());
                }
            }
        }
        doc["components"]["securitySchemes"] = json!({ "bearer": { "type": "http", "scheme": "bearer" } });
        doc["security"] = json!([{ "bearer": [] }]);
    }
    doc
}
