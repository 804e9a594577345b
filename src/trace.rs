//! `scoped trace NAME [TYPE]`: resolve one question from the root with a fresh cache and print
//! every step — the servers chosen and why (SRTT), what was sent (ECS or not, and why), what
//! came back (referral, answer, SCOPE), and under which prefix it would be cached (E24). A
//! question a local zone answers (`[local]`, the default zones) is shown as answered by it.

use std::net::IpAddr;
use std::process::ExitCode;

use hickory_proto::rr::{Name, RecordType};
use ipnet::IpNet;
use scoped_ecs::Family;
use scoped_recursor::{Question, ResolveRequest};

use crate::config::Config;

/// What to trace.
pub struct TraceRequest {
    pub name: String,
    pub qtype: String,
    pub client: Option<IpAddr>,
    pub subnet: Option<IpNet>,
}

/// The client subnet the trace uses, and how it was decided.
fn decide_subnet(config: &Config, request: &TraceRequest) -> (Option<IpNet>, String) {
    let policy = &config.server.ecs.policy;
    match (request.subnet, request.client) {
        (Some(net), _) => {
            let net = net.trunc();
            let family = if net.addr().is_ipv4() {
                Family::V4
            } else {
                Family::V6
            };
            let max = policy.max_len(family);
            let used = if net.prefix_len() > max {
                IpNet::new(net.addr(), max)
                    .map(|n| n.trunc())
                    .unwrap_or(net)
            } else {
                net
            };
            (
                Some(used),
                format!("client subnet {used} (--subnet {net}, at most /{max})"),
            )
        }
        (None, Some(client)) => {
            let decision = policy.decide(client, None);
            match decision.subnet() {
                Some(net) => (Some(net), format!("client subnet {net} (client {client})")),
                None => {
                    let why = decision.reason().map(|r| r.reason()).unwrap_or("withheld");
                    (None, format!("no client subnet for {client} ({why})"))
                }
            }
        }
        (None, None) => (None, "no client subnet (give --client or --subnet)".into()),
    }
}

pub fn run(config: Config, request: TraceRequest) -> ExitCode {
    let qname = match Name::from_ascii(&request.name) {
        Ok(mut name) => {
            name.set_fqdn(true);
            name
        }
        Err(e) => {
            eprintln!("{:?} is not a domain name: {e}", request.name);
            return ExitCode::FAILURE;
        }
    };
    let qtype: RecordType = match request.qtype.to_ascii_uppercase().parse() {
        Ok(qtype) => qtype,
        Err(_) => {
            eprintln!("{:?} is not a record type", request.qtype);
            return ExitCode::FAILURE;
        }
    };
    // Local zones come first, as in the server's pipeline: such a question never leaves. So
    // does a DNS64 PTR whose IPv4 reverse name is in a local zone.
    let dns64 = &config.recursor.dns64;
    let local = config.server.local.answer(&qname, qtype).or_else(|| {
        let target = (dns64.enabled && qtype == RecordType::PTR)
            .then(|| dns64.ptr_target(&qname))
            .flatten()?;
        let local = config.server.local.answer(&target, qtype)?;
        println!(";; DNS64: {qname} is under the prefix; CNAME to {target}");
        Some(local)
    });
    if let Some(local) = local {
        println!(
            ";; {qname} {qtype}: answered by the local zone {} ({}); no upstream query",
            local.zone, local.kind
        );
        println!(";; {}, scope 0", local.rcode);
        for record in local.answers.iter().chain(&local.authorities) {
            println!("{}", scoped_cache::dname::present(record));
        }
        return ExitCode::SUCCESS;
    }
    let (subnet, how) = decide_subnet(&config, &request);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let recursor = crate::build_recursor(&config);
        println!(";; {how}");
        let client = request.client.unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let question = Question::new(qname, qtype);
        let (resolution, lines) = recursor
            .trace(ResolveRequest {
                question,
                client,
                client_subnet: subnet,
                checking_disabled: false,
                dnssec_ok: false,
            })
            .await;
        for line in lines {
            println!("{line}");
        }
        println!(";; {}, scope {}", resolution.rcode, resolution.scope);
        for record in resolution.answers.iter().chain(&resolution.authorities) {
            println!("{}", scoped_cache::dname::present(record));
        }
        ExitCode::SUCCESS
    })
}
