//! The control plane's certificates, made with the `openssl` command (EC P-256): a CA, the API
//! server's serving certificate for loopback, client certificates for the admin (in
//! `system:masters`), the scheduler, the controller-manager and Spotter's controller and
//! agent, and the service-account key pair; and a kubeconfig per client.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::control_plane::ControlPlaneError;

/// Who a client certificate is for.
pub struct Client {
    /// The file stem (`admin`, `scheduler`, `controller-manager`, ...), and the user name of
    /// Spotter's users.
    pub name: &'static str,
    /// The certificate's subject.
    pub subject: &'static str,
}

/// The clients of the control plane.
pub const CLIENTS: &[Client] = &[
    Client {
        name: "admin",
        subject: "/O=system:masters/CN=admin",
    },
    Client {
        name: "scheduler",
        subject: "/CN=system:kube-scheduler",
    },
    // The controller-manager runs every controller under its own identity
    // (--use-service-account-credentials=false), hence system:masters.
    Client {
        name: "controller-manager",
        subject: "/O=system:masters/CN=system:kube-controller-manager",
    },
    // Spotter's own users, in system:masters so that a missing permission does not change
    // what the test exercises: the audit log records their requests, and the tests compare
    // them with the chart's permission list (see `crate::audit`).
    Client {
        name: "spotter-controller",
        subject: "/O=system:masters/CN=spotter-controller",
    },
    Client {
        name: "spotter-agent",
        subject: "/O=system:masters/CN=spotter-agent",
    },
];

const SERVER_EXTENSIONS: &str = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n";
const CLIENT_EXTENSIONS: &str = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n";

/// Makes every certificate and key in `folder`.
pub fn generate(openssl: &Path, folder: &Path) -> Result<(), ControlPlaneError> {
    let path = |name: &str| folder.join(name).display().to_string();
    run(
        openssl,
        "create the CA",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "3650",
            "-subj",
            "/CN=spotter-test-ca",
            "-keyout",
            &path("ca.key"),
            "-out",
            &path("ca.crt"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        ],
    )?;
    certificate(
        openssl,
        folder,
        "apiserver",
        "/CN=kube-apiserver",
        SERVER_EXTENSIONS,
    )?;
    for client in CLIENTS {
        certificate(
            openssl,
            folder,
            client.name,
            client.subject,
            CLIENT_EXTENSIONS,
        )?;
    }
    run(
        openssl,
        "create the service-account key",
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            &path("sa.key"),
        ],
    )?;
    run(
        openssl,
        "write the service-account public key",
        &[
            "pkey",
            "-in",
            &path("sa.key"),
            "-pubout",
            "-out",
            &path("sa.pub"),
        ],
    )
}

/// Writes a kubeconfig for `client` talking to the API server on `port`.
pub fn kubeconfig(
    folder: &Path,
    client: &str,
    port: u16,
    file: &Path,
) -> Result<(), ControlPlaneError> {
    let read = |name: String| -> Result<String, ControlPlaneError> {
        let path = folder.join(&name);
        std::fs::read_to_string(&path).map_err(|source| ControlPlaneError::Io {
            action: format!("read {}", path.display()),
            source,
        })
    };
    let text = format!(
        "apiVersion: v1
kind: Config
clusters:
- name: spotter-test
  cluster:
    server: https://127.0.0.1:{port}
    certificate-authority-data: {ca}
users:
- name: {client}
  user:
    client-certificate-data: {certificate}
    client-key-data: {key}
contexts:
- name: spotter-test
  context: {{cluster: spotter-test, user: {client}, namespace: default}}
current-context: spotter-test
",
        ca = base64(read("ca.crt".into())?.as_bytes()),
        certificate = base64(read(format!("{client}.crt"))?.as_bytes()),
        key = base64(read(format!("{client}.key"))?.as_bytes()),
    );
    std::fs::write(file, text).map_err(|source| ControlPlaneError::Io {
        action: format!("write {}", file.display()),
        source,
    })
}

fn certificate(
    openssl: &Path,
    folder: &Path,
    name: &str,
    subject: &str,
    extensions: &str,
) -> Result<(), ControlPlaneError> {
    let path = |suffix: &str| -> PathBuf { folder.join(format!("{name}.{suffix}")) };
    let text = |path: PathBuf| path.display().to_string();
    std::fs::write(path("ext"), extensions).map_err(|source| ControlPlaneError::Io {
        action: format!("write {}", path("ext").display()),
        source,
    })?;
    run(
        openssl,
        &format!("create the {name} key"),
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            subject,
            "-keyout",
            &text(path("key")),
            "-out",
            &text(path("csr")),
        ],
    )?;
    let ca_certificate = text(folder.join("ca.crt"));
    let ca_key = text(folder.join("ca.key"));
    let serial = text(folder.join("ca.srl"));
    run(
        openssl,
        &format!("sign the {name} certificate"),
        &[
            "x509",
            "-req",
            "-in",
            &text(path("csr")),
            "-CA",
            &ca_certificate,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-CAserial",
            &serial,
            "-days",
            "3650",
            "-extfile",
            &text(path("ext")),
            "-out",
            &text(path("crt")),
        ],
    )
}

fn run(openssl: &Path, step: &str, arguments: &[&str]) -> Result<(), ControlPlaneError> {
    let output = Command::new(openssl)
        .args(arguments)
        .output()
        .map_err(|source| ControlPlaneError::Io {
            action: format!("run openssl to {step}"),
            source,
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(ControlPlaneError::Certificates {
            step: step.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

/// Standard base64 with padding, as kubeconfigs embed certificates.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let value = chunk.iter().enumerate().fold(0u32, |value, (index, byte)| {
            value | (u32::from(*byte) << (16 - 8 * index))
        });
        for position in 0..4 {
            if position <= chunk.len() {
                let index = (value >> (18 - 6 * position)) & 0x3f;
                text.push(char::from(ALPHABET[index as usize]));
            } else {
                text.push('=');
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_the_standard_alphabet_with_padding() {
        let cases: &[(&[u8], &str)] = &[
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foobar", "Zm9vYmFy"),
            (&[0xff, 0xfe, 0xfd], "//79"),
        ];
        for (bytes, expected) in cases {
            assert_eq!(base64(bytes), *expected, "{bytes:?}");
        }
    }
}
