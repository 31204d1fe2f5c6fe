//! What the registry steps of `pull` and `push` mean, in English and
//! Chinese: the HTTP request (the "syscall" field names it), the curl
//! command that does the same by hand, and where to look afterwards.

use super::{Description, Lang, Step};

/// The `Accept` list a pull sends, short enough to read in a curl command.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.list.v2+json,application/vnd.docker.distribution.manifest.v2+json";

impl Step {
    /// Unpacking `layer` (its blob at `blob`) into `dir`: the step pull,
    /// build and commit take when the store adds an image.
    pub fn layer_unpack(
        layer: &crate::image::store::LayerInfo,
        blob: std::path::PathBuf,
        dir: &std::path::Path,
    ) -> Step {
        Step::LayerUnpack {
            digest: layer.digest.clone(),
            diff_id: layer.diff_id.clone(),
            chain_id: layer.chain_id.clone(),
            media_type: layer.media_type.clone(),
            blob,
            dir: dir.to_path_buf(),
        }
    }
}

fn short(digest: &str) -> &str {
    let h = digest.strip_prefix("sha256:").unwrap_or(digest);
    &h[..h.len().min(12)]
}

fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// The path part of a URL: `https://host/v2/x` → `/v2/x`.
fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.find('/').map(|i| &rest[i..]).unwrap_or("/")
}

/// What a media type is, in a few words.
fn kind_of(media_type: &str, lang: Lang) -> &'static str {
    let index = media_type.contains("index") || media_type.contains("manifest.list");
    match () {
        _ if index => lang.pick(
            "an index: one manifest per platform",
            "索引（index）：每个平台一个清单",
        ),
        _ if media_type.contains("manifest") => lang.pick(
            "an image manifest: one config and the layers",
            "镜像清单：一个配置加上各层",
        ),
        _ => lang.pick("a manifest", "清单"),
    }
}

/// A human size ("1.23MB"), as docker prints them.
fn size(bytes: u64) -> String {
    crate::cli::format::human_size(bytes)
}

pub(super) fn describe(step: &Step, lang: Lang) -> Description {
    let l = |en: &str, zh: &str| lang.pick(en, zh).to_string();
    match step {
        Step::RegistryPing { registry, url } => Description {
            title: l(
                &format!("ask {registry} whether it speaks the registry API (GET /v2/)"),
                &format!("询问 {registry} 是否支持镜像仓库 API（GET /v2/）"),
            ),
            why: l(
                "Every pull and push starts with GET /v2/. A 200 means the registry speaks the distribution API and wants no login; a 401 comes with a WWW-Authenticate header saying how to authenticate (Bearer: ask a token server; Basic: send a user name and password).",
                "每次 pull 和 push 都从 GET /v2/ 开始。返回 200 说明仓库支持 distribution API，而且不需要登录；返回 401 时会带一个 WWW-Authenticate 头，说明该怎么认证（Bearer：去令牌服务器要令牌；Basic：直接发送用户名和密码）。",
            ),
            shell: format!("curl -si {url} | head -n 5"),
            syscall: format!("HTTP GET {}", path_of(url)),
            look: format!("curl -si {url} | grep -i -e '^HTTP' -e www-authenticate"),
        },
        Step::RegistryToken {
            registry,
            realm,
            service,
            scope,
            with_credentials,
        } => {
            let mut q = Vec::new();
            if let Some(s) = service {
                q.push(format!("service={s}"));
            }
            q.push(format!("scope={scope}"));
            let user = if *with_credentials { "-u USER:PASSWORD " } else { "" };
            Description {
                title: l(
                    &format!("get a token for {scope} from {realm}"),
                    &format!("从 {realm} 获取 {scope} 的令牌"),
                ),
                why: l(
                    &format!(
                        "{registry} answered 401 with a Bearer challenge: it trusts tokens from its auth server, not passwords. glassbox asks that server for a token scoped to this one repository and these actions ({}), and sends it as 'Authorization: Bearer <token>' on every request that follows.",
                        if *with_credentials { "with the credentials `login` stored" } else { "anonymously: public images need no account" }
                    ),
                    &format!(
                        "{registry} 返回了 401 和一个 Bearer 质询：它只认自己认证服务器签发的令牌，不直接收密码。glassbox 向那台服务器申请一个只对这个仓库、这些操作有效的令牌（{}），之后的每个请求都带上 'Authorization: Bearer <令牌>'。",
                        if *with_credentials { "带上 login 保存的凭据" } else { "匿名申请：公开镜像不需要账号" }
                    ),
                ),
                shell: format!(
                    "TOKEN=$(curl -s {user}'{realm}?{}' | sed 's/.*\"token\":\"\\([^\"]*\\)\".*/\\1/')",
                    q.join("&")
                ),
                syscall: format!("HTTP GET {realm}"),
                look: l(
                    "echo $TOKEN | cut -d. -f2 | base64 -d   # a JWT: its middle part lists the granted access",
                    "echo $TOKEN | cut -d. -f2 | base64 -d   # 这是一个 JWT：中间一段列出了被授予的权限",
                ),
            }
        }
        Step::ManifestFetch {
            repository,
            reference,
            url,
            media_type,
            digest,
            platform,
        } => {
            let what = kind_of(media_type, lang);
            let title = match platform {
                Some(p) => l(
                    &format!("fetch the {p} manifest of {repository} ({media_type})"),
                    &format!("获取 {repository} 在 {p} 平台上的清单（{media_type}）"),
                ),
                None => l(
                    &format!("fetch the manifest of {repository}:{reference} ({media_type})"),
                    &format!("获取 {repository}:{reference} 的清单（{media_type}）"),
                ),
            };
            let digest_note = match digest {
                Some(d) => l(
                    &format!(" Its digest is {d}: the sha256 of these exact bytes, which is what `name@{d}` pins."),
                    &format!("它的摘要是 {d}：就是这些字节的 sha256，`名字@{d}` 锁定的正是它。"),
                ),
                None => String::new(),
            };
            Description {
                title,
                why: l(
                    &format!(
                        "A tag is only a name the registry maps to a manifest. The Accept header lists every manifest kind glassbox understands and the registry picks one: here {what}.{digest_note} An index lists one manifest per platform; glassbox then fetches this machine's by digest. An image manifest names the config blob and the layer blobs, each by digest and size."
                    ),
                    &format!(
                        "标签只是仓库里指向某个清单的名字。Accept 头列出 glassbox 能理解的所有清单类型，由仓库挑一种返回：这里是{what}。{digest_note}索引为每个平台列一个清单，glassbox 接着按摘要取本机平台的那一个；镜像清单则按摘要和大小列出配置 blob 和各层 blob。"
                    ),
                ),
                shell: format!("curl -s -H 'Accept: {ACCEPT}' -H \"Authorization: Bearer $TOKEN\" {url}"),
                syscall: format!("HTTP GET {}", path_of(url)),
                look: format!(
                    "curl -sI -H 'Accept: {ACCEPT}' {url} | grep -i -e content-type -e docker-content-digest"
                ),
            }
        }
        Step::BlobFetch {
            repository,
            digest,
            size: bytes,
            media_type,
            url,
            dest,
        } => {
            let config = media_type.contains("config");
            let what = if config {
                l("the image config", "镜像配置")
            } else {
                l(&format!("layer {}", short(digest)), &format!("层 {}", short(digest)))
            };
            Description {
                title: l(
                    &format!("download {what} of {repository} ({}) and check its digest", size(*bytes)),
                    &format!("下载 {repository} 的{what}（{}）并校验摘要", size(*bytes)),
                ),
                why: l(
                    &format!(
                        "Blobs are content-addressed: the digest {digest} is the sha256 of the blob's bytes. glassbox hashes the download as it writes it to a temp file and renames it to blobs/sha256/{} only if the hash and the size ({bytes} bytes) match the manifest, so a corrupt or tampered blob never enters the store. {}",
                        short(digest),
                        if config {
                            "The config holds the default command, environment and working directory, and the diff_ids: the digests of the layers once uncompressed."
                        } else {
                            "A layer is a tar archive (here possibly gzipped) of the files one build step added, changed or deleted; up to three download at once."
                        }
                    ),
                    &format!(
                        "blob 按内容寻址：摘要 {digest} 就是这个 blob 字节的 sha256。glassbox 边下载边计算哈希，写进临时文件，只有哈希和大小（{bytes} 字节）都和清单一致，才改名为 blobs/sha256/{}，损坏或被篡改的 blob 进不了存储。{}",
                        short(digest),
                        if config {
                            "配置里有默认命令、环境变量、工作目录，以及 diff_ids：各层解压后的摘要。"
                        } else {
                            "层是一个 tar 包（这里可能是 gzip 压缩的），装着某个构建步骤新增、修改或删除的文件；最多三个层同时下载。"
                        }
                    ),
                ),
                shell: format!(
                    "curl -sL -H \"Authorization: Bearer $TOKEN\" {url} -o blob && echo '{}  blob' | sha256sum -c",
                    hex(digest)
                ),
                syscall: format!("HTTP GET {}", path_of(url)),
                look: format!("ls -l {}", dest.display()),
            }
        }
        Step::LayerUnpack {
            digest,
            diff_id,
            chain_id,
            media_type,
            blob,
            dir,
        } => {
            let gz = media_type.ends_with("gzip") || media_type.ends_with("+gzip");
            let cat = if gz { "zcat" } else { "cat" };
            Description {
                title: l(
                    &format!("unpack layer {} into its lower dir", short(digest)),
                    &format!("把层 {} 解包到它的 lower 目录", short(digest)),
                ),
                why: l(
                    &format!(
                        "overlayfs stacks directories, not tar files, so each layer is unpacked once into its own directory, named by its chain id ({}: this layer together with every layer below it). The uncompressed tar must hash to the config's diff_id {}. Unpacking refuses paths that climb out (`..`, absolute paths, symlinks) and turns the layer's whiteouts (.wh.NAME: \"deleted in this layer\") into overlay whiteouts.",
                        short(chain_id),
                        short(diff_id)
                    ),
                    &format!(
                        "overlayfs 叠加的是目录而不是 tar 包，所以每一层只解包一次，放进自己的目录，目录名是它的 chain id（{}：这一层连同它下面所有层的标识）。解压后的 tar 必须和配置里的 diff_id {} 一致。解包时拒绝任何想跳出目录的路径（`..`、绝对路径、符号链接），并把层里的 whiteout（.wh.名字，表示“这一层删除了它”）变成 overlay 的 whiteout。",
                        short(chain_id),
                        short(diff_id)
                    ),
                ),
                shell: format!(
                    "{cat} {b} | sha256sum; mkdir -p {d} && tar -x{z}f {b} -C {d}",
                    b = blob.display(),
                    d = dir.display(),
                    z = if gz { "z" } else { "" }
                ),
                syscall: "openat(2), write(2), mknod(2) (whiteouts), rename(2)".into(),
                look: format!("ls {}", dir.display()),
            }
        }
        Step::BlobCheck {
            repository,
            digest,
            url,
        } => Description {
            title: l(
                &format!("ask whether {repository} already has blob {}", short(digest)),
                &format!("询问 {repository} 是否已经有 blob {}", short(digest)),
            ),
            why: l(
                "A HEAD request for the blob: 200 means the registry has it (another image shares this layer) and it is not sent again; 404 means upload it. This is why pushing an image built on a popular base sends only your own layers.",
                "对这个 blob 发一个 HEAD 请求：200 表示仓库已经有了（别的镜像共用这一层），不用再传；404 表示需要上传。所以推送一个基于常见基础镜像的镜像时，只会上传你自己的那几层。",
            ),
            shell: format!("curl -sI -H \"Authorization: Bearer $TOKEN\" {url} | head -n 1"),
            syscall: format!("HTTP HEAD {}", path_of(url)),
            look: format!("curl -sI {url}"),
        },
        Step::BlobUpload {
            repository,
            digest,
            size: bytes,
            url,
            source,
        } => Description {
            title: l(
                &format!("upload blob {} ({}) to {repository}", short(digest), size(*bytes)),
                &format!("把 blob {}（{}）上传到 {repository}", short(digest), size(*bytes)),
            ),
            why: l(
                "An upload is two requests: POST opens an upload session and the registry answers with its Location; PUT to that location with ?digest= sends the bytes. The registry hashes what it received and refuses it unless it matches the digest, just as a pull checks what it downloads.",
                "上传分两步：POST 开启一个上传会话，仓库在 Location 头里给出地址；再向这个地址 PUT 数据并带上 ?digest=。仓库会对收到的字节计算哈希，和摘要不符就拒收，和 pull 校验下载内容是一个道理。",
            ),
            shell: format!(
                "LOC=$(curl -si -X POST {url} | sed -n 's/^[Ll]ocation: *//p' | tr -d '\\r'); curl -X PUT --data-binary @{} \"$LOC&digest={digest}\"",
                source.display()
            ),
            syscall: format!("HTTP POST {}, then PUT <location>", path_of(url)),
            look: format!("ls -l {}", source.display()),
        },
        Step::ManifestPut {
            repository,
            tag,
            media_type,
            digest,
            size: bytes,
            url,
            source,
        } => Description {
            title: l(
                &format!("put the manifest as {repository}:{tag}"),
                &format!("上传清单，命名为 {repository}:{tag}"),
            ),
            why: l(
                &format!(
                    "With every blob in place, the manifest ({media_type}, {bytes} bytes) is sent byte for byte as stored, so the registry computes the same digest {digest}. The PUT under a tag is what makes the image pullable by name; the registry refuses a manifest whose blobs it does not have."
                ),
                &format!(
                    "所有 blob 就位后，按存储的原样逐字节发送清单（{media_type}，{bytes} 字节），仓库算出的摘要也就是同一个 {digest}。正是这个按标签的 PUT 让镜像可以按名字拉取；清单引用的 blob 仓库里没有的话，它会拒绝。"
                ),
            ),
            shell: format!(
                "curl -X PUT -H 'Content-Type: {media_type}' --data-binary @{} {url}",
                source.display()
            ),
            syscall: format!("HTTP PUT {}", path_of(url)),
            look: format!("curl -s -H 'Accept: {media_type}' {url} | sha256sum"),
        },
        other => Description {
            title: other.kind().to_string(),
            why: String::new(),
            shell: String::new(),
            syscall: String::new(),
            look: String::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registry_step_is_explained_in_both_languages() {
        let steps = vec![
            Step::RegistryPing {
                registry: "127.0.0.1:5000".into(),
                url: "http://127.0.0.1:5000/v2/".into(),
            },
            Step::RegistryToken {
                registry: "docker.io".into(),
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: "repository:library/busybox:pull".into(),
                with_credentials: false,
            },
            Step::ManifestFetch {
                repository: "library/busybox".into(),
                reference: "latest".into(),
                url: "https://registry-1.docker.io/v2/library/busybox/manifests/latest".into(),
                media_type: "application/vnd.oci.image.index.v1+json".into(),
                digest: Some(format!("sha256:{}", "a".repeat(64))),
                platform: None,
            },
            Step::BlobFetch {
                repository: "library/busybox".into(),
                digest: format!("sha256:{}", "b".repeat(64)),
                size: 2_000_000,
                media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
                url: "http://x/v2/library/busybox/blobs/sha256:bbb".into(),
                dest: "/var/lib/glassbox/blobs/sha256/bbb".into(),
            },
            Step::LayerUnpack {
                digest: format!("sha256:{}", "b".repeat(64)),
                diff_id: format!("sha256:{}", "c".repeat(64)),
                chain_id: format!("sha256:{}", "c".repeat(64)),
                media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
                blob: "/r/blobs/sha256/bbb".into(),
                dir: "/r/layers/ccc/diff".into(),
            },
            Step::BlobCheck {
                repository: "x".into(),
                digest: format!("sha256:{}", "b".repeat(64)),
                url: "http://x/v2/x/blobs/sha256:bbb".into(),
            },
            Step::BlobUpload {
                repository: "x".into(),
                digest: format!("sha256:{}", "b".repeat(64)),
                size: 10,
                url: "http://x/v2/x/blobs/uploads/".into(),
                source: "/r/blobs/sha256/bbb".into(),
            },
            Step::ManifestPut {
                repository: "x".into(),
                tag: "1".into(),
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                digest: format!("sha256:{}", "d".repeat(64)),
                size: 500,
                url: "http://x/v2/x/manifests/1".into(),
                source: "/r/blobs/sha256/ddd".into(),
            },
        ];
        for s in &steps {
            assert!(s.is_registry());
            assert_eq!(s.side(), super::super::Side::Parent);
            let en = s.describe(Lang::En);
            let zh = s.describe(Lang::Zh);
            for d in [&en, &zh] {
                assert!(!d.title.is_empty() && !d.why.is_empty(), "{}", s.kind());
                assert!(!d.shell.is_empty() && !d.syscall.is_empty() && !d.look.is_empty());
            }
            assert_ne!(en.title, zh.title, "{}", s.kind());
            assert_ne!(en.why, zh.why, "{}", s.kind());
        }
        assert_eq!(path_of("https://h:1/v2/a/b"), "/v2/a/b");
        assert!(steps[2].describe(Lang::En).title.contains("index.v1+json"));
    }
}
