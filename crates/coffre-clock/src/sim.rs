//! Scripted sources for deterministic simulations (with [`crate::FakeMonotonic`]).

use crate::{MonotonicClock, Sample, Source, SourceError, TimeSource};

/// The script of a [`ScriptedSource`]: given the monotonic instant, the UTC interval the
/// source reports, or its fault.
pub type Script = Box<dyn FnMut(u64) -> Result<(u64, u64), SourceError> + Send>;

/// A source whose every answer comes from a closure of the monotonic time: honest, lying,
/// silent or jittery, as a test scripts it.
pub struct ScriptedSource {
    kind: Source,
    name: String,
    script: Script,
}

impl std::fmt::Debug for ScriptedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptedSource")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .finish()
    }
}

impl ScriptedSource {
    /// A source of `kind` named `name` answering with `script(mono_ns)`.
    pub fn new(
        kind: Source,
        name: impl Into<String>,
        script: impl FnMut(u64) -> Result<(u64, u64), SourceError> + Send + 'static,
    ) -> ScriptedSource {
        ScriptedSource { kind, name: name.into(), script: Box::new(script) }
    }
}

impl TimeSource for ScriptedSource {
    fn kind(&self) -> Source {
        self.kind
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn sample(&mut self, mono: &dyn MonotonicClock) -> Result<Sample, SourceError> {
        let mono_ns = mono.now_ns();
        let (earliest, latest) = (self.script)(mono_ns)?;
        Sample::new(mono_ns, earliest, latest)
            .ok_or(SourceError::Implausible { earliest_ns: earliest, latest_ns: latest })
    }
}
