//! Expand: one level of the userset tree of `object#relation` — the rewrite with its direct
//! subjects filled in and its computed usersets and arrows resolved to the usersets they name.
//! Callers expand a leaf userset again to go one level deeper.

use serde::Serialize;

use crate::error::EngineError;
use crate::schema::{ArrowMode, RelationDef, Rewrite};
use crate::tuple::{ObjectRef, SubjectRef};

use super::reader::Reader;

/// One node of the userset tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExpandNode {
    /// The relation's own tuples: objects, wildcards and usersets (not expanded further).
    Direct {
        subjects: Vec<String>,
    },
    /// Another relation of the same object: the userset `object#relation`.
    Computed {
        userset: String,
    },
    /// `tupleset->computed`: the usersets `target#computed` for each object the tupleset names.
    Arrow {
        tupleset: String,
        computed: String,
        all: bool,
        usersets: Vec<String>,
    },
    Union {
        children: Vec<ExpandNode>,
    },
    Intersection {
        children: Vec<ExpandNode>,
    },
    Exclusion {
        base: Box<ExpandNode>,
        subtract: Box<ExpandNode>,
    },
    Nil,
}

pub(crate) async fn expand(
    reader: &mut Reader<'_>,
    schema: &crate::schema::Schema,
    object: &ObjectRef,
    def: &RelationDef,
) -> Result<ExpandNode, EngineError> {
    // Iterative over an explicit stack would be overkill: rewrites are small trees.
    fn go<'a>(
        reader: &'a mut Reader<'_>,
        schema: &'a crate::schema::Schema,
        object: &'a ObjectRef,
        def: &'a RelationDef,
        rw: &'a Rewrite,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<ExpandNode, EngineError>> + Send + 'a>,
    > {
        Box::pin(async move {
            Ok(match rw {
                Rewrite::Nil => ExpandNode::Nil,
                Rewrite::This => {
                    let subjects = reader.subjects(object, &def.name).await?;
                    let mut subjects: Vec<String> = subjects
                        .iter()
                        .filter(|s| def.accepts(&s.subject_type, &s.subject_id, s.relation_str()))
                        .map(SubjectRef::to_string)
                        .collect();
                    subjects.sort();
                    ExpandNode::Direct { subjects }
                }
                Rewrite::Computed(r) => ExpandNode::Computed {
                    userset: format!("{object}#{r}"),
                },
                Rewrite::Arrow {
                    tupleset,
                    computed,
                    mode,
                } => {
                    let mut usersets: Vec<String> = reader
                        .arrow_targets(schema, object, tupleset, computed)
                        .await?
                        .iter()
                        .map(|(t, _)| format!("{t}#{computed}"))
                        .collect();
                    usersets.sort();
                    ExpandNode::Arrow {
                        tupleset: tupleset.clone(),
                        computed: computed.clone(),
                        all: *mode == ArrowMode::All,
                        usersets,
                    }
                }
                Rewrite::Union(parts) => {
                    let mut children = Vec::new();
                    for p in parts {
                        children.push(go(reader, schema, object, def, p).await?);
                    }
                    ExpandNode::Union { children }
                }
                Rewrite::Intersection(parts) => {
                    let mut children = Vec::new();
                    for p in parts {
                        children.push(go(reader, schema, object, def, p).await?);
                    }
                    ExpandNode::Intersection { children }
                }
                Rewrite::Exclusion(a, b) => ExpandNode::Exclusion {
                    base: Box::new(go(reader, schema, object, def, a).await?),
                    subtract: Box::new(go(reader, schema, object, def, b).await?),
                },
            })
        })
    }
    go(reader, schema, object, def, &def.rewrite).await
}
