//! The ECS option codec: any payload that parses re-composes to bytes that parse to the same
//! option, in both directions; the echo of a query's option parses as a response option.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scoped_ecs::{Direction, Ecs};

fuzz_target!(|payload: &[u8]| {
    for direction in [Direction::Query, Direction::Response] {
        let Ok(ecs) = Ecs::parse(payload, direction) else {
            continue;
        };
        let again =
            Ecs::parse(ecs.payload().as_slice(), direction).expect("a composed option parses");
        assert_eq!(again, ecs, "parse → compose → parse is the identity");
        if direction == Direction::Query {
            for scope in [0, ecs.source(), 128] {
                let echo = ecs.echo(ecs.source(), scope);
                let echoed = Ecs::parse(echo.payload().as_slice(), Direction::Response);
                assert!(
                    echoed.is_ok(),
                    "the echo of a valid query option is valid: {echoed:?}"
                );
            }
        }
    }
});
