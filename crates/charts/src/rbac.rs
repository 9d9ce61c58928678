//! The permission list Spotter's code uses (`charts/spotter/rbac-requirements.yaml`) against
//! the RBAC a rendered chart grants: which ClusterRoles and Roles reach a ServiceAccount
//! through its bindings, whether they allow every listed (group, resource, verb) at the listed
//! scope, and whether they allow anything the list does not name (least privilege).

use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;
use serde_yaml_ng::Value;

use crate::manifests::Object;

/// Where a permission holds.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Everywhere: a ClusterRole bound by a ClusterRoleBinding.
    Cluster,
    /// In the ServiceAccount's own namespace: a Role (or ClusterRole) bound by a RoleBinding.
    Namespace,
}

/// One entry of the permission list.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// The API group (`""` for the core group).
    pub group: String,
    /// Resources, with subresources as `pods/eviction`.
    pub resources: Vec<String>,
    /// Verbs.
    pub verbs: Vec<String>,
    /// Where the permission is needed.
    pub scope: Scope,
    /// For the namespace scope, a namespace other than the ServiceAccount's own (the fake
    /// provider renews node Leases in `kube-node-lease`).
    #[serde(default)]
    pub namespace: Option<String>,
    /// The cloud provider the permission is needed with (`fake`, `aws`); every provider when
    /// unset.
    #[serde(default)]
    pub provider: Option<String>,
}

/// The permission list: the controller's and the agent's.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    /// What `spotter controller` uses.
    pub controller: Vec<Requirement>,
    /// What `spotter agent` uses.
    pub agent: Vec<Requirement>,
}

/// One permission: a verb on a resource of a group, at a scope.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Permission {
    /// The API group (`""` for the core group, `*` for any).
    pub group: String,
    /// The resource (`*` for any).
    pub resource: String,
    /// The verb (`*` for any).
    pub verb: String,
    /// Where.
    pub scope: Scope,
    /// For the namespace scope, the namespace when it is not the ServiceAccount's own.
    pub namespace: Option<String>,
}

/// A ServiceAccount, the subject of bindings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceAccount {
    /// Its name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
}

/// The rules that reach one ServiceAccount, each with the scope it holds at.
#[derive(Clone, Debug, Default)]
pub struct Grants {
    /// Each rule with its scope and, for a RoleBinding outside the account's namespace, that
    /// namespace.
    rules: Vec<(Scope, Option<String>, Rule)>,
}

/// Reading the permission list or the rendered RBAC failed.
#[derive(Debug, thiserror::Error)]
pub enum RbacError {
    /// The permission list is not valid.
    #[error("failed to read the permission list (rbac-requirements.yaml): {0}")]
    Requirements(serde_yaml_ng::Error),
    /// A binding names a role the chart does not render.
    #[error(
        "failed to find {role_kind} {role_name:?}, which {binding_kind} {binding_name:?} binds: render the role or fix roleRef"
    )]
    DanglingBinding {
        /// The binding's kind.
        binding_kind: String,
        /// The binding's name.
        binding_name: String,
        /// The role's kind.
        role_kind: String,
        /// The role's name.
        role_name: String,
    },
    /// A role's rules are not PolicyRules.
    #[error("failed to read the rules of {kind} {name:?}: {source}")]
    Rules {
        /// The role's kind.
        kind: String,
        /// The role's name.
        name: String,
        /// The parser's error.
        source: serde_yaml_ng::Error,
    },
}

/// Reads the permission list.
pub fn parse_requirements(text: &str) -> Result<Requirements, RbacError> {
    serde_yaml_ng::from_str(text).map_err(RbacError::Requirements)
}

/// The entries of a list a controller running `provider` needs: those of every provider and
/// those of `provider`.
pub fn for_provider(requirements: &[Requirement], provider: &str) -> Vec<Requirement> {
    requirements
        .iter()
        .filter(|requirement| {
            requirement
                .provider
                .as_deref()
                .is_none_or(|only| only == provider)
        })
        .cloned()
        .collect()
}

/// The permissions a list names, one per (group, resource, verb, scope).
pub fn permissions(requirements: &[Requirement]) -> BTreeSet<Permission> {
    requirements
        .iter()
        .flat_map(|requirement| {
            requirement.resources.iter().flat_map(move |resource| {
                requirement.verbs.iter().map(move |verb| Permission {
                    group: requirement.group.clone(),
                    resource: resource.clone(),
                    verb: verb.clone(),
                    scope: requirement.scope,
                    namespace: requirement.namespace.clone(),
                })
            })
        })
        .collect()
}

/// Whether the list names a request a process made (as the API server's audit log records
/// it: the RBAC verb, the group, the resource with its subresource as `pods/eviction`, and the
/// namespace of a namespaced request): an entry with its group, resource and verb at the
/// cluster scope, or at the namespace scope when the request is in `own_namespace`.
pub fn names_request(
    requirements: &[Requirement],
    request: &Permission,
    namespace: Option<&str>,
    own_namespace: &str,
) -> bool {
    requirements.iter().any(|requirement| {
        let in_scope = match requirement.scope {
            Scope::Cluster => true,
            Scope::Namespace => {
                namespace == Some(requirement.namespace.as_deref().unwrap_or(own_namespace))
            }
        };
        in_scope
            && requirement.group == request.group
            && requirement.resources.contains(&request.resource)
            && requirement.verbs.contains(&request.verb)
    })
}

/// The rules `objects` grant `account` through ClusterRoleBindings (cluster scope) and
/// RoleBindings (namespace scope, in its own namespace or another one).
pub fn grants(objects: &[Object], account: &ServiceAccount) -> Result<Grants, RbacError> {
    let mut found = Grants::default();
    for binding in objects {
        let (scope, namespace) = match binding.kind() {
            "ClusterRoleBinding" => (Scope::Cluster, None),
            "RoleBinding" if binding.namespace() == account.namespace => (Scope::Namespace, None),
            "RoleBinding" => (Scope::Namespace, Some(binding.namespace().to_string())),
            _ => continue,
        };
        if !binds(binding, account) {
            continue;
        }
        let role_kind = binding.value["roleRef"]["kind"]
            .as_str()
            .unwrap_or_default();
        let role_name = binding.value["roleRef"]["name"]
            .as_str()
            .unwrap_or_default();
        let role = objects.iter().find(|object| {
            object.kind() == role_kind
                && object.name() == role_name
                && (role_kind == "ClusterRole" || object.namespace() == binding.namespace())
        });
        let Some(role) = role else {
            return Err(RbacError::DanglingBinding {
                binding_kind: binding.kind().to_string(),
                binding_name: binding.name().to_string(),
                role_kind: role_kind.to_string(),
                role_name: role_name.to_string(),
            });
        };
        let rules: Vec<Rule> = match role.value.get("rules") {
            None | Some(Value::Null) => Vec::new(),
            Some(rules) => {
                serde_yaml_ng::from_value(rules.clone()).map_err(|source| RbacError::Rules {
                    kind: role.kind().to_string(),
                    name: role.name().to_string(),
                    source,
                })?
            }
        };
        found.rules.extend(
            rules
                .into_iter()
                .map(|rule| (scope, namespace.clone(), rule)),
        );
    }
    Ok(found)
}

impl Grants {
    /// Whether some rule allows the permission: a cluster-wide rule also allows it in a
    /// namespace. A rule limited to `resourceNames` allows nothing a list entry means.
    pub fn allows(&self, permission: &Permission) -> bool {
        self.rules.iter().any(|(scope, namespace, rule)| {
            ((*scope == permission.scope && *namespace == permission.namespace)
                || *scope == Scope::Cluster)
                && rule.resource_names.is_empty()
                && matches(&rule.api_groups, &permission.group)
                && matches(&rule.resources, &permission.resource)
                && matches(&rule.verbs, &permission.verb)
        })
    }

    /// Every permission the rules grant, wildcards kept as `*`.
    pub fn granted(&self) -> BTreeSet<Permission> {
        let mut granted = BTreeSet::new();
        for (scope, namespace, rule) in &self.rules {
            for group in &rule.api_groups {
                for resource in &rule.resources {
                    for verb in &rule.verbs {
                        granted.insert(Permission {
                            group: group.clone(),
                            resource: resource.clone(),
                            verb: verb.clone(),
                            scope: *scope,
                            namespace: namespace.clone(),
                        });
                    }
                }
            }
        }
        granted
    }

    /// The listed permissions no rule allows.
    pub fn uncovered(&self, requirements: &[Requirement]) -> Vec<Permission> {
        permissions(requirements)
            .into_iter()
            .filter(|permission| !self.allows(permission))
            .collect()
    }

    /// The granted permissions the list does not name (least privilege): wildcards and
    /// non-resource URLs are always reported.
    pub fn unlisted(&self, requirements: &[Requirement]) -> Vec<Permission> {
        let listed = permissions(requirements);
        let mut extra: Vec<Permission> = self
            .granted()
            .into_iter()
            .filter(|permission| !listed.contains(permission))
            .collect();
        for (scope, namespace, rule) in &self.rules {
            for url in &rule.non_resource_urls {
                extra.push(Permission {
                    group: String::new(),
                    resource: format!("nonResourceURL {url}"),
                    verb: rule.verbs.join(","),
                    scope: *scope,
                    namespace: namespace.clone(),
                });
            }
        }
        extra
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.group.is_empty() {
            "\"\""
        } else {
            &self.group
        };
        let scope = match (self.scope, &self.namespace) {
            (Scope::Cluster, _) => "cluster".to_string(),
            (Scope::Namespace, None) => "namespace".to_string(),
            (Scope::Namespace, Some(namespace)) => format!("namespace {namespace}"),
        };
        write!(
            formatter,
            "{group} {} {} ({scope})",
            self.resource, self.verb
        )
    }
}

/// A PolicyRule as the chart renders it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    #[serde(default)]
    api_groups: Vec<String>,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    verbs: Vec<String>,
    #[serde(default)]
    resource_names: Vec<String>,
    #[serde(default, rename = "nonResourceURLs")]
    non_resource_urls: Vec<String>,
}

fn matches(allowed: &[String], wanted: &str) -> bool {
    allowed.iter().any(|item| item == "*" || item == wanted)
}

fn binds(binding: &Object, account: &ServiceAccount) -> bool {
    binding.value["subjects"]
        .as_sequence()
        .into_iter()
        .flatten()
        .any(|subject| {
            subject["kind"].as_str() == Some("ServiceAccount")
                && subject["name"].as_str() == Some(account.name.as_str())
                && subject["namespace"].as_str() == Some(account.namespace.as_str())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::objects;

    #[test]
    fn requests_are_named_by_group_resource_verb_and_scope() {
        let requirements = parse_requirements(
            "controller:
  - {group: karpenter.sh, resources: [nodeclaims, nodeclaims/status], verbs: [get, patch], scope: cluster}
  - {group: coordination.k8s.io, resources: [leases], verbs: [update], scope: namespace}
  - {group: coordination.k8s.io, resources: [leases], verbs: [patch], scope: namespace, namespace: kube-node-lease}
agent: []
",
        )
        .expect("the list reads");
        let request = |group: &str, resource: &str, verb: &str| Permission {
            group: group.into(),
            resource: resource.into(),
            verb: verb.into(),
            scope: Scope::Cluster,
            namespace: None,
        };
        let cases = [
            (
                "listed",
                request("karpenter.sh", "nodeclaims", "get"),
                None,
                true,
            ),
            (
                "a listed subresource",
                request("karpenter.sh", "nodeclaims/status", "patch"),
                None,
                true,
            ),
            (
                "another verb",
                request("karpenter.sh", "nodeclaims", "delete"),
                None,
                false,
            ),
            (
                "another group",
                request("", "nodeclaims", "get"),
                None,
                false,
            ),
            (
                "an unlisted subresource",
                request("karpenter.sh", "nodeclaims/eviction", "get"),
                None,
                false,
            ),
            (
                "a cluster entry holds in any namespace",
                request("karpenter.sh", "nodeclaims", "get"),
                Some("default"),
                true,
            ),
            (
                "a namespace entry in its namespace",
                request("coordination.k8s.io", "leases", "update"),
                Some("spotter"),
                true,
            ),
            (
                "a namespace entry elsewhere",
                request("coordination.k8s.io", "leases", "update"),
                Some("kube-system"),
                false,
            ),
            (
                "a namespace entry cluster-wide",
                request("coordination.k8s.io", "leases", "update"),
                None,
                false,
            ),
            (
                "an entry of another namespace, there",
                request("coordination.k8s.io", "leases", "patch"),
                Some("kube-node-lease"),
                true,
            ),
            (
                "an entry of another namespace, in the own one",
                request("coordination.k8s.io", "leases", "patch"),
                Some("spotter"),
                false,
            ),
        ];
        for (name, request, namespace, expected) in cases {
            assert_eq!(
                names_request(&requirements.controller, &request, namespace, "spotter"),
                expected,
                "case {name:?}"
            );
        }
    }

    #[test]
    fn entries_of_another_provider_are_left_out() {
        let requirements = parse_requirements(
            "controller:
  - {group: '', resources: [nodes], verbs: [get], scope: cluster}
  - {group: '', resources: [nodes], verbs: [create], scope: cluster, provider: fake}
  - {group: '', resources: [pods], verbs: [list], scope: cluster, provider: aws}
agent: []
",
        )
        .expect("the list reads");
        let verbs = |provider: &str| -> Vec<String> {
            for_provider(&requirements.controller, provider)
                .iter()
                .flat_map(|requirement| requirement.verbs.clone())
                .collect()
        };
        assert_eq!(verbs("fake"), ["get", "create"]);
        assert_eq!(verbs("aws"), ["get", "list"]);
        assert_eq!(verbs("other"), ["get"]);
    }

    const REQUIREMENTS: &str = r#"
controller:
  - group: karpenter.sh
    resources: [nodepools]
    verbs: [get, watch]
    scope: cluster
  - group: coordination.k8s.io
    resources: [leases]
    verbs: [get, update]
    scope: namespace
agent: []
"#;

    /// A ClusterRole (bound cluster-wide) and a Role (bound in `role_namespace`) with these
    /// rules, bound to the ServiceAccount system/spotter.
    fn rendered(cluster_rules: &str, role_rules: &str, role_namespace: &str) -> String {
        format!(
            r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: spotter}}
rules: {cluster_rules}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: spotter}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: spotter}}
subjects: [{{kind: ServiceAccount, name: spotter, namespace: system}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: spotter, namespace: {role_namespace}}}
rules: {role_rules}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: spotter, namespace: {role_namespace}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: spotter}}
subjects: [{{kind: ServiceAccount, name: spotter, namespace: system}}]
"#
        )
    }

    #[test]
    fn rules_are_compared_with_the_list_in_both_directions() {
        let nodepools =
            r#"[{apiGroups: [karpenter.sh], resources: [nodepools], verbs: [get, watch]}]"#;
        let leases =
            r#"[{apiGroups: [coordination.k8s.io], resources: [leases], verbs: [get, update]}]"#;
        let cases = [
            // (name, cluster rules, role rules, role namespace, uncovered, unlisted)
            ("exact", nodepools, leases, "system", vec![], vec![]),
            (
                "a verb missing",
                r#"[{apiGroups: [karpenter.sh], resources: [nodepools], verbs: [get]}]"#,
                leases,
                "system",
                vec!["karpenter.sh nodepools watch (cluster)"],
                vec![],
            ),
            (
                "the Role in another namespace",
                nodepools,
                leases,
                "elsewhere",
                vec![
                    "coordination.k8s.io leases get (namespace)",
                    "coordination.k8s.io leases update (namespace)",
                ],
                vec![
                    "coordination.k8s.io leases get (namespace elsewhere)",
                    "coordination.k8s.io leases update (namespace elsewhere)",
                ],
            ),
            (
                "leases cluster-wide cover the namespace but are more than listed",
                r#"[{apiGroups: [karpenter.sh], resources: [nodepools], verbs: [get, watch]}, {apiGroups: [coordination.k8s.io], resources: [leases], verbs: [get, update]}]"#,
                "[]",
                "system",
                vec![],
                vec![
                    "coordination.k8s.io leases get (cluster)",
                    "coordination.k8s.io leases update (cluster)",
                ],
            ),
            (
                "a wildcard covers and is reported",
                r#"[{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]"#,
                leases,
                "system",
                vec![],
                vec!["* * * (cluster)"],
            ),
            (
                "resourceNames cover nothing",
                r#"[{apiGroups: [karpenter.sh], resources: [nodepools], verbs: [get, watch], resourceNames: [batch]}]"#,
                leases,
                "system",
                vec![
                    "karpenter.sh nodepools get (cluster)",
                    "karpenter.sh nodepools watch (cluster)",
                ],
                vec![],
            ),
        ];
        let requirements = parse_requirements(REQUIREMENTS).expect("a valid list");
        let account = ServiceAccount {
            name: "spotter".to_string(),
            namespace: "system".to_string(),
        };
        for (name, cluster_rules, role_rules, namespace, uncovered, unlisted) in cases {
            let rendered =
                objects(&rendered(cluster_rules, role_rules, namespace)).expect("valid YAML");
            let grants = grants(&rendered, &account).expect("bindings resolve");
            let shown = |permissions: Vec<Permission>| -> Vec<String> {
                permissions.iter().map(ToString::to_string).collect()
            };
            assert_eq!(
                shown(grants.uncovered(&requirements.controller)),
                uncovered,
                "{name}: uncovered"
            );
            assert_eq!(
                shown(grants.unlisted(&requirements.controller)),
                unlisted,
                "{name}: unlisted"
            );
        }
    }

    #[test]
    fn another_service_account_gets_nothing_and_a_dangling_binding_is_an_error() {
        let rendered = objects(&rendered("[]", "[]", "system")).expect("valid YAML");
        let stranger = ServiceAccount {
            name: "other".to_string(),
            namespace: "system".to_string(),
        };
        assert!(
            grants(&rendered, &stranger)
                .expect("bindings resolve")
                .granted()
                .is_empty()
        );
        let without_role: Vec<Object> = rendered
            .into_iter()
            .filter(|object| object.kind() != "ClusterRole")
            .collect();
        let account = ServiceAccount {
            name: "spotter".to_string(),
            namespace: "system".to_string(),
        };
        let error = grants(&without_role, &account).expect_err("the ClusterRole is missing");
        assert!(
            matches!(error, RbacError::DanglingBinding { ref role_name, .. } if role_name == "spotter"),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_field_in_the_list_is_refused() {
        let error = parse_requirements("controller: []\nagent: []\nwebhook: []\n")
            .expect_err("webhook is not a field");
        assert!(error.to_string().contains("webhook"), "{error}");
    }
}
