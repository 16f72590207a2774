//! The component hub: a catalog of ready components, and how `hubRef: [owner/]name[:tag]`
//! finds one of its versions.
//!
//! The catalog is data: the components Myelin bundles (`hub/` in this crate, compiled in, so the
//! editor's worker and `myelin check` resolve references offline) and, on a server, the ones its
//! users registered. Resolution is a lookup in it; nothing is fetched.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::suggest;

include!(concat!(env!("OUT_DIR"), "/hub_files.rs"));

/// The owner of the bundled components, as Polyaxon's public hub's (`DEFAULT_HUB`).
pub const DEFAULT_OWNER: &str = "polyaxon";

/// The tag a reference without one means.
pub const DEFAULT_TAG: &str = "latest";

/// One version of a component: its tag and its Polyaxonfile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HubVersion {
    /// The tag (`latest`, `single-run`, …).
    pub tag: String,
    /// The component's Polyaxonfile.
    pub content: String,
}

/// A component of the catalog with every version it has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HubComponent {
    /// Whose it is: [`DEFAULT_OWNER`] for the bundled ones.
    pub owner: String,
    /// Its name, as references write it.
    pub name: String,
    /// Its name for people.
    pub title: String,
    /// One line on what it is.
    pub description: String,
    /// `service`, `job`, `notifier` or `tuner`.
    pub kind: String,
    /// Other names references may use (`jupyterlab` for `jupyter-lab`).
    pub aliases: Vec<String>,
    /// Labels to filter the catalog by.
    pub tags: Vec<String>,
    /// Its icon, as SVG text.
    pub icon: Option<String>,
    /// What to know before using it, in Markdown.
    pub readme: Option<String>,
    /// Its versions; the first is the one a reference without a tag gets.
    pub versions: Vec<HubVersion>,
    /// Other names of tags (`multi-run` for `multi-runs`).
    pub tag_aliases: BTreeMap<String, String>,
}

impl HubComponent {
    /// The version a tag names, through the tag's aliases.
    pub fn version(&self, tag: &str) -> Option<&HubVersion> {
        let tag = self.tag_aliases.get(tag).map_or(tag, String::as_str);
        self.versions.iter().find(|version| version.tag == tag)
    }

    fn answers_to(&self, name: &str) -> bool {
        self.name == name || self.aliases.iter().any(|alias| alias == name)
    }
}

/// The components references can name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    /// Every component, bundled ones first.
    pub components: Vec<HubComponent>,
}

/// A reference resolved: the component, and the version it names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resolved<'a> {
    /// The component.
    pub component: &'a HubComponent,
    /// The version.
    pub version: &'a HubVersion,
}

impl Resolved<'_> {
    /// `owner/name:tag`, the version's full name.
    pub fn full_name(&self) -> String {
        format!(
            "{}/{}:{}",
            self.component.owner, self.component.name, self.version.tag
        )
    }
}

/// Why a reference names no version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubError {
    /// It is not `[owner/]name[:tag]`.
    Malformed(String),
    /// No component has that name.
    UnknownComponent {
        /// `owner/name` as written.
        reference: String,
        /// The closest name there is.
        suggestion: Option<String>,
    },
    /// The component has no version with that tag.
    UnknownTag {
        /// The component's full name.
        component: String,
        /// The tag written.
        tag: String,
        /// The tags there are.
        tags: Vec<String>,
    },
}

impl HubError {
    /// What is wrong, in the compiler's words.
    pub fn message(&self) -> String {
        match self {
            Self::Malformed(why) => why.clone(),
            Self::UnknownComponent { reference, .. } => {
                format!("the hub has no component `{reference}`")
            }
            Self::UnknownTag { component, tag, .. } => {
                format!("`{component}` has no version `{tag}`")
            }
        }
    }

    /// How to fix it.
    pub fn hints(&self) -> Vec<String> {
        match self {
            Self::Malformed(_) => {
                vec!["write it as `name`, `name:tag` or `owner/name:tag`".to_owned()]
            }
            Self::UnknownComponent {
                reference,
                suggestion,
            } => match (suggestion, reference.split_once('/')) {
                (Some(name), _) => vec![format!("did you mean `{name}`?")],
                (None, Some((owner, _))) => vec![format!(
                    "`{owner}`'s components are registered on a server; the bundled hub has \
                     `{DEFAULT_OWNER}`'s"
                )],
                (None, None) => Vec::new(),
            },
            Self::UnknownTag { tags, .. } => {
                let listed: Vec<String> = tags.iter().map(|tag| format!("`{tag}`")).collect();
                vec![format!("its versions are {}", listed.join(", "))]
            }
        }
    }
}

/// A reference's parts: owner, name and tag (`None` when not written).
pub fn parse_reference(reference: &str) -> Result<(String, String, Option<String>), HubError> {
    let malformed =
        |why: &str| HubError::Malformed(format!("`{reference}` is not a hub reference: {why}"));
    let (path, tag) = match reference.split_once(':') {
        Some((_, tag)) if tag.contains(':') => return Err(malformed("it has more than one `:`")),
        Some((path, tag)) => (path, Some(tag.trim())),
        None => (reference, None),
    };
    // Polyaxon reads a `.` in the owner's part as a `/`.
    let path = path.trim().replace('.', "/");
    let parts: Vec<&str> = path.split('/').collect();
    let (owner, name) = match parts.as_slice() {
        [name] => (DEFAULT_OWNER, *name),
        [owner, name] => (*owner, *name),
        _ => return Err(malformed("it has more than two `/` parts")),
    };
    if owner.is_empty() || name.is_empty() || tag.is_some_and(str::is_empty) {
        return Err(malformed("a part of it is empty"));
    }
    Ok((owner.to_owned(), name.to_owned(), tag.map(str::to_owned)))
}

/// An entry of `hub/catalog.yaml`.
#[derive(Debug, Deserialize)]
struct IndexEntry {
    name: String,
    title: String,
    description: String,
    kind: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    icon: Option<String>,
    readme: Option<String>,
    versions: Vec<String>,
    #[serde(default)]
    tag_aliases: BTreeMap<String, String>,
}

impl Catalog {
    /// The components bundled with Myelin.
    pub fn bundled() -> &'static Catalog {
        static BUNDLED: OnceLock<Catalog> = OnceLock::new();
        BUNDLED.get_or_init(|| {
            // The bundled files are checked by the crate's tests: a broken one fails CI.
            Catalog::from_files(DEFAULT_OWNER, HUB_FILES)
                .unwrap_or_else(|why| panic!("the bundled hub catalog is broken: {why}"))
        })
    }

    /// A catalog read from its files: `catalog.yaml`, the index, and the files it names, by
    /// path. The error says which entry or file is wrong.
    pub fn from_files(owner: &str, files: &[(&str, &str)]) -> Result<Catalog, String> {
        let file = |path: &str| {
            files
                .iter()
                .find(|(name, _)| *name == path)
                .map(|(_, text)| *text)
        };
        let index = file("catalog.yaml").ok_or("there is no `catalog.yaml`")?;
        let (root, problems) = crate::yaml::parse(index);
        if let Some(problem) = problems.first() {
            return Err(format!("catalog.yaml: {problem}"));
        }
        let entries: Vec<IndexEntry> =
            serde_json::from_value(root.map(|root| root.to_json()).unwrap_or_default())
                .map_err(|error| format!("catalog.yaml: {error}"))?;
        let mut components = Vec::with_capacity(entries.len());
        for entry in entries {
            let mut versions = Vec::with_capacity(entry.versions.len());
            for tag in &entry.versions {
                let path = format!("{}/{tag}.yaml", entry.name);
                let content = file(&path).ok_or_else(|| {
                    format!(
                        "`{}` lists version `{tag}`, but {path} is missing",
                        entry.name
                    )
                })?;
                versions.push(HubVersion {
                    tag: tag.clone(),
                    content: content.to_owned(),
                });
            }
            if versions.is_empty() {
                return Err(format!("`{}` has no version", entry.name));
            }
            let text = |path: &Option<String>| path.as_deref().and_then(file).map(str::to_owned);
            components.push(HubComponent {
                owner: owner.to_owned(),
                icon: text(&entry.icon),
                readme: text(&entry.readme),
                name: entry.name,
                title: entry.title,
                description: entry.description,
                kind: entry.kind,
                aliases: entry.aliases,
                tags: entry.tags,
                versions,
                tag_aliases: entry.tag_aliases,
            });
        }
        Ok(Catalog { components })
    }

    /// The version `reference` names, or why none.
    pub fn resolve(&self, reference: &str) -> Result<Resolved<'_>, HubError> {
        let (owner, name, tag) = parse_reference(reference)?;
        let Some(component) = self
            .components
            .iter()
            .find(|component| component.owner == owner && component.answers_to(&name))
        else {
            let known = self
                .components
                .iter()
                .filter(|component| component.owner == owner)
                .flat_map(|component| {
                    std::iter::once(component.name.as_str())
                        .chain(component.aliases.iter().map(String::as_str))
                });
            let suggestion = suggest::closest(&name, known).map(|name| {
                if owner == DEFAULT_OWNER {
                    name.to_owned()
                } else {
                    format!("{owner}/{name}")
                }
            });
            return Err(HubError::UnknownComponent {
                reference: if owner == DEFAULT_OWNER {
                    name
                } else {
                    format!("{owner}/{name}")
                },
                suggestion,
            });
        };
        let version = match tag.as_deref() {
            None => component
                .version(DEFAULT_TAG)
                .or_else(|| component.versions.first()),
            Some(tag) => component.version(tag),
        };
        let version = version.ok_or_else(|| HubError::UnknownTag {
            component: component.name.clone(),
            tag: tag.unwrap_or_else(|| DEFAULT_TAG.to_owned()),
            tags: component
                .versions
                .iter()
                .map(|version| version.tag.clone())
                .collect(),
        })?;
        Ok(Resolved { component, version })
    }
}

/// A component version's content hash (`state`): what a run records to say exactly which text
/// it ran, whatever its tag names later.
pub fn content_state(content: &str) -> String {
    sha1_smol::Sha1::from(content.as_bytes())
        .digest()
        .to_string()
}

impl Catalog {
    /// This catalog with `more` components after its own.
    pub fn with(&self, more: Vec<HubComponent>) -> Catalog {
        let mut components = self.components.clone();
        components.extend(more);
        Catalog { components }
    }
}
