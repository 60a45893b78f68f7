//! `gpuleak report --format html` rendered in headless Chromium (Debian's chromium) with no
//! network; skipped, saying so, where Chromium is missing. The traces are those of exports.rs.

mod common;

use std::io::Read as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::exports::*;

// ------------------------------------------------------------------------------------------------
// The HTML report

/// A proxy that only notes what is asked of it: any request a page makes for the network goes
/// through it (`--proxy-server`, loopback included), and it answers none.
struct Proxy {
    port: u16,
    /// The host of each request (`GET http://host/...` or `CONNECT host:443`).
    hosts: Arc<Mutex<Vec<String>>>,
    /// Connections accepted, and those read to their request line or to nothing at all.
    accepted: Arc<AtomicUsize>,
    read: Arc<AtomicUsize>,
    /// Connections that closed or stayed silent without a request: Chromium opens sockets
    /// ahead of need (preconnect) for its own services; such a socket fetches nothing.
    silent: Arc<AtomicUsize>,
}

/// The domains of Chromium's own services, which it calls whatever the page (seen here:
/// update.googleapis.com and accounts.google.com, its component updater and sign-in, which
/// its switches do not silence in headless mode): not the page's requests. A request to any
/// other host fails the test; the page itself names no URL at all (checked above).
const BROWSER_DOMAINS: [&str; 3] = ["google.com", "googleapis.com", "gvt1.com"];

fn browser_host(host: &str) -> bool {
    BROWSER_DOMAINS
        .iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

impl Proxy {
    fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hosts = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(AtomicUsize::new(0));
        let read = Arc::new(AtomicUsize::new(0));
        let silent = Arc::new(AtomicUsize::new(0));
        let (seen, acc, done, quiet) = (
            hosts.clone(),
            accepted.clone(),
            read.clone(),
            silent.clone(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                acc.fetch_add(1, Ordering::SeqCst);
                let (seen, done, quiet) = (seen.clone(), done.clone(), quiet.clone());
                // A thread per connection: a silent socket must not hold up the next one's
                // request, which a loaded machine may deliver late.
                std::thread::spawn(move || {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut buf = [0u8; 2048];
                    let n = s.read(&mut buf).unwrap_or(0);
                    let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                    match request.split_whitespace().nth(1) {
                        Some(target) => {
                            let host = target
                                .trim_start_matches("http://")
                                .trim_start_matches("https://")
                                .split(['/', ':'])
                                .next()
                                .unwrap_or(target)
                                .to_string();
                            seen.lock().unwrap().push(host);
                        }
                        None => {
                            quiet.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        Proxy {
            port,
            hosts,
            accepted,
            read,
            silent,
        }
    }

    /// Hosts asked for that are not the browser's own services, once every connection accepted
    /// so far has been read (at most 10 s).
    fn page_requests(&self) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.read.load(Ordering::SeqCst) < self.accepted.load(Ordering::SeqCst)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let hosts = self.hosts.lock().unwrap();
        let own = hosts.iter().filter(|h| browser_host(h)).count();
        if own > 0 {
            eprintln!("html report: {own} requests of chromium's own services (not the page's)");
        }
        let silent = self.silent.load(Ordering::SeqCst);
        if silent > 0 {
            eprintln!("html report: {silent} connections made no request (preconnects)");
        }
        hosts.iter().filter(|h| !browser_host(h)).cloned().collect()
    }
}

/// Headless Chromium on a local page, through the proxy, with as few of its own background
/// requests as its switches allow.
fn chromium(browser: &Path, proxy: &Proxy, profile: &Path, args: &[&str], page: &Path) -> Output {
    Command::new(browser)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--disable-domain-reliability",
            "--disable-client-side-phishing-detection",
            "--no-pings",
            "--metrics-recording-only",
            "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,\
             Translate,AutofillServerCommunication,CertificateTransparencyComponentUpdater",
            "--proxy-bypass-list=<-loopback>",
        ])
        .arg(format!("--proxy-server=http://127.0.0.1:{}", proxy.port))
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs")
}

#[test]
fn the_html_report_renders_in_chromium_without_the_network_and_names_the_leak() {
    let run = leaky_run();
    let d = common::scratch("export-html");
    let page = d.join("report.html");
    let o = gpuleak(
        &["report", "--format", "html", "-o", page.to_str().unwrap()],
        run.trace(),
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.stdout.is_empty());
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: no resource from anywhere (the SVG namespace is a name, not a fetch).
    for attr in [
        "src=",
        "href=\"http",
        "href='http",
        "url(",
        "@import",
        "<link",
        "<script",
    ] {
        assert!(!html.contains(attr), "{attr} in the page");
    }
    assert_eq!(
        html.matches("http").count(),
        html.matches("http://www.w3.org/2000/svg").count(),
        "a URL other than the SVG namespace"
    );
    // The diagnosis comes first, then the chart, then the findings.
    let at = |s: &str| html.find(s).unwrap_or_else(|| panic!("no {s:?}"));
    assert!(at("<h2>Diagnosis</h2>") < at("<svg") && at("<svg") < at("<h2>Findings</h2>"));
    assert!(at("<h2>Findings</h2>") < at("<h2>Iterations</h2>"));
    // The chart's leak layer ends at the 30 MiB the site holds; the table has every iteration.
    assert!(
        html.contains("denoise_step (sampler.c:154)</code>: 30.0 MiB at the last iteration's end")
            || html.contains("30.0 MiB at the last iteration's end, peak 30.0 MiB"),
        "chart layer"
    );
    // +3.00 MiB: the finding's rate, and the net of every iteration in the table.
    assert_eq!(
        html.matches("<td class=\"num\">+3.00 MiB</td>").count() as u64,
        ITERATIONS + 1
    );

    let Some(browser) = tool("chromium", "html report") else {
        return;
    };
    let proxy = Proxy::start();
    let profile = d.join("chromium-profile");
    let shot = d.join("report.png");
    let o = chromium(
        &browser,
        &proxy,
        &profile,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,1600",
        ],
        &page,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // 1200 x 1600, as asked (the IHDR chunk), and far from one flat colour.
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 1200);
    assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), 1600);
    assert!(png.len() > 30_000, "{} bytes: an empty page?", png.len());
    let dom = chromium(&browser, &proxy, &profile, &["--dump-dom"], &page);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("denoise_step (sampler.c:"), "{dom}");
    assert!(dom.contains("leak"), "{dom}");
    assert_eq!(
        proxy.page_requests(),
        Vec::<String>::new(),
        "the report made network requests"
    );

    // The check can fail: a page that loads an image from the network reaches the proxy.
    let control = d.join("control.html");
    std::fs::write(
        &control,
        "<!DOCTYPE html><html><body><img src=\"http://gpuleak.invalid/x.png\"></body></html>",
    )
    .unwrap();
    let o = chromium(&browser, &proxy, &profile, &["--dump-dom"], &control);
    assert!(o.status.success());
    let asked = proxy.page_requests();
    assert!(
        !asked.is_empty() && asked.iter().all(|h| h == "gpuleak.invalid"),
        "the proxy did not see the request of a page that fetches ({asked:?}): the check above \
         proves nothing"
    );
}
