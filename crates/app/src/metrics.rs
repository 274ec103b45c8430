//! Prometheus metrics: request counts and latency histograms per route, inference time per model, the
//! inference queue and the size of the in-memory indexes. Rendered in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

const BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                self.counts[i] += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        for (i, le) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {}", self.counts.get(i).copied().unwrap_or(0));
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<(String, String), Histogram>,
    inference: BTreeMap<String, Histogram>,
    rejected: u64,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// Values read at render time.
pub struct Gauges {
    pub queue_depth: usize,
    pub admitted: usize,
    pub busy_workers: usize,
    pub workers: usize,
    pub queue_capacity: usize,
    pub indexed_faces: Vec<(String, usize)>,
    /// The inference engine running the models (`tract` or `onnxruntime`) and what was asked for.
    pub engine: &'static str,
    pub engine_requested: String,
}

impl Metrics {
    pub fn observe_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        if let Ok(mut m) = self.inner.lock() {
            *m.requests.entry((route.to_string(), method.to_string(), status)).or_default() += 1;
            m.latency.entry((route.to_string(), method.to_string())).or_default().observe(seconds);
            if status == 503 {
                m.rejected += 1;
            }
        }
    }

    /// Time spent in one model (or stage) for one request.
    pub fn observe_inference(&self, model: &str, seconds: f64) {
        if let Ok(mut m) = self.inner.lock() {
            m.inference.entry(model.to_string()).or_default().observe(seconds);
        }
    }

    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        let Ok(m) = self.inner.lock() else { return out };
        out.push_str("# HELP facegate_http_requests_total HTTP requests by route, method and status.\n");
        out.push_str("# TYPE facegate_http_requests_total counter\n");
        for ((route, method, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "facegate_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str("# HELP facegate_http_request_duration_seconds Request latency by route.\n");
        out.push_str("# TYPE facegate_http_request_duration_seconds histogram\n");
        for ((route, method), h) in &m.latency {
            let labels = format!("route=\"{}\",method=\"{method}\"", escape(route));
            h.render(&mut out, "facegate_http_request_duration_seconds", &labels);
        }
        out.push_str(
            "# HELP facegate_inference_duration_seconds Time in each model (and image decoding) per request.\n",
        );
        out.push_str("# TYPE facegate_inference_duration_seconds histogram\n");
        for (model, h) in &m.inference {
            h.render(&mut out, "facegate_inference_duration_seconds", &format!("model=\"{}\"", escape(model)));
        }
        let gauge = |out: &mut String, name: &str, help: &str, value: usize| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        };
        gauge(
            &mut out,
            "facegate_inference_queue_depth",
            "Requests waiting for an inference worker.",
            gauges.queue_depth,
        );
        gauge(
            &mut out,
            "facegate_inference_queue_capacity",
            "Queue bound; beyond it requests get 503.",
            gauges.queue_capacity,
        );
        gauge(&mut out, "facegate_inference_workers_busy", "Inference workers running a job.", gauges.busy_workers);
        gauge(&mut out, "facegate_inference_workers", "Inference worker threads.", gauges.workers);
        let _ = writeln!(
            out,
            "# HELP facegate_inference_engine The engine running the models (1 for the one in use).\n\
             # TYPE facegate_inference_engine gauge\nfacegate_inference_engine{{engine=\"{}\",requested=\"{}\"}} 1",
            gauges.engine,
            escape(&gauges.engine_requested)
        );
        let _ = writeln!(
            out,
            "# HELP facegate_overload_rejections_total Requests refused with 503.\n\
             # TYPE facegate_overload_rejections_total counter\nfacegate_overload_rejections_total {}",
            m.rejected
        );
        out.push_str("# HELP facegate_index_faces Faces in each collection's in-memory index.\n");
        out.push_str("# TYPE facegate_index_faces gauge\n");
        for (collection, n) in &gauges.indexed_faces {
            let _ = writeln!(out, "facegate_index_faces{{collection=\"{}\"}} {n}", escape(collection));
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.observe_request("/v1/compare", "POST", 200, 0.03);
        m.observe_request("/v1/compare", "POST", 200, 0.3);
        m.observe_request("/v1/compare", "POST", 503, 0.001);
        m.observe_inference("yunet", 0.02);
        let text = m.render(&Gauges {
            queue_depth: 2,
            admitted: 3,
            busy_workers: 1,
            workers: 2,
            queue_capacity: 64,
            indexed_faces: vec![("staff".into(), 5)],
            engine: "tract",
            engine_requested: "auto".into(),
        });
        assert!(text.contains("facegate_http_requests_total{route=\"/v1/compare\",method=\"POST\",status=\"200\"} 2"));
        assert!(text.contains("facegate_http_requests_total{route=\"/v1/compare\",method=\"POST\",status=\"503\"} 1"));
        assert!(text.contains(
            "facegate_http_request_duration_seconds_bucket{route=\"/v1/compare\",method=\"POST\",le=\"0.05\"} 2"
        ));
        assert!(text.contains(
            "facegate_http_request_duration_seconds_bucket{route=\"/v1/compare\",method=\"POST\",le=\"+Inf\"} 3"
        ));
        assert!(text.contains("facegate_inference_duration_seconds_count{model=\"yunet\"} 1"));
        assert!(text.contains("facegate_inference_queue_depth 2"));
        assert!(text.contains("facegate_overload_rejections_total 1"));
        assert!(text.contains("facegate_index_faces{collection=\"staff\"} 5"));
        assert!(text.contains("facegate_inference_engine{engine=\"tract\",requested=\"auto\"} 1"), "{text}");
    }
}
