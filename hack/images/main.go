// Command images builds the container images the local cluster runs, from the
// project's binaries and the host's Debian files, with no registry and no
// Docker engine: each image is written as a docker archive that
// `ctr images import` loads into containerd.
//
//	go run . -bin ../../bin -out ../../bin/images
//
// Images are reproducible: file times and owners are fixed and the config has
// no creation time, so the same inputs give the same image ID and an image
// whose ID did not change is not rewritten. bin/images/images.txt lists
// "reference image-id archive" per image for the importer.
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Versions and references. The step-runner reference matches the chart's
// default image; terraform-controller's and vela-core's are set by make up.
const (
	providerVersion = "0.1.0"
	pathEnv         = "PATH=/usr/local/bin:/usr/bin:/bin"
)

func main() {
	binDir := flag.String("bin", "bin", "the project's bin/ (tools, binaries, provider mirror)")
	outDir := flag.String("out", "bin/images", "where the image archives are written")
	flag.Parse()
	if err := run(*binDir, *outDir); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

// spec is one image: its reference, files and config.
type spec struct {
	ref        string
	build      func(l *layer) error
	entrypoint []string
	env        []string
	user       string
	workdir    string
}

func run(binDir, outDir string) error {
	binDir, err := filepath.Abs(binDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	version := func(tool string) (string, error) {
		b, err := os.ReadFile(filepath.Join(binDir, "."+tool+".version"))
		if err != nil {
			return "", fmt.Errorf("%s is not built (run make tools): %w", tool, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	tfVersion, err := version("terraform")
	if err != nil {
		return err
	}
	velaVersion, err := version("vela-core")
	if err != nil {
		return err
	}
	tfcVersion, err := version("terraform-controller")
	if err != nil {
		return err
	}
	pause := filepath.Join(outDir, "pause")
	build := exec.Command("go", "build", "-trimpath", "-o", pause, "./pause")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building pause: %v\n%s", err, out)
	}

	mirror := filepath.Join(binDir, "terraform-providers")
	// Providers come only from the image's mirror: without a direct block
	// Terraform downloads nothing at run time, whatever a module asks for.
	terraformrc := []byte(`provider_installation {
  filesystem_mirror {
    path    = "/usr/share/terraform/providers"
    include = ["registry.terraform.io/vela-infra/*"]
  }
}
`)
	withTerraform := func(l *layer) error {
		if err := l.binary("/usr/local/bin/terraform", filepath.Join(binDir, "terraform")); err != nil {
			return err
		}
		l.file("/etc/terraform/terraformrc", 0o644, terraformrc)
		return l.tree("/usr/share/terraform/providers", mirror)
	}
	specs := []spec{{
		ref:        "docker.io/vela-infra/pause:3.9",
		build:      func(l *layer) error { return l.binary("/pause", pause) },
		entrypoint: []string{"/pause"},
	}, {
		ref:        "docker.io/vela-infra/busybox:1.35",
		build:      busybox,
		entrypoint: []string{"sh"},
		env:        []string{pathEnv},
	}, {
		// terraform-controller's TERRAFORM_IMAGE: its Jobs run `sh -c
		// terraform init` and `bash -c terraform apply` in /data.
		ref: "docker.io/vela-infra/terraform:" + strings.TrimPrefix(tfVersion, "v"),
		build: func(l *layer) error {
			if err := busybox(l); err != nil {
				return err
			}
			if err := l.binary("/bin/bash", "/bin/bash"); err != nil {
				return err
			}
			return withTerraform(l)
		},
		entrypoint: []string{"/usr/local/bin/terraform"},
		env:        []string{pathEnv, "TF_CLI_CONFIG_FILE=/etc/terraform/terraformrc", "CHECKPOINT_DISABLE=1", "HOME=/tmp"},
		// terraform-controller's Job containers set no workingDir: they run
		// where the image says, in the /data volume they mount.
		workdir: "/data",
	}, {
		ref: "docker.io/vela-infra/step-runner:" + providerVersion,
		build: func(l *layer) error {
			if err := l.binary("/usr/local/bin/step-runner", filepath.Join(binDir, "step-runner")); err != nil {
				return err
			}
			return withTerraform(l)
		},
		entrypoint: []string{"/usr/local/bin/step-runner"},
		env:        []string{pathEnv, "CHECKPOINT_DISABLE=1", "HOME=/tmp"},
		user:       "65532:65532",
	}, {
		ref:        "docker.io/vela-infra/vela-core:" + velaVersion,
		build:      func(l *layer) error { return l.binary("/usr/local/bin/manager", filepath.Join(binDir, "vela-core")) },
		entrypoint: []string{"/usr/local/bin/manager"},
		env:        []string{pathEnv, "HOME=/tmp"},
	}, {
		ref:        "docker.io/vela-infra/terraform-controller:" + tfcVersion,
		build:      func(l *layer) error { return l.binary("/manager", filepath.Join(binDir, "terraform-controller")) },
		entrypoint: []string{"/manager"},
		env:        []string{pathEnv, "HOME=/tmp"},
	}}

	var list bytes.Buffer
	for _, s := range specs {
		id, archive, changed, err := write(s, outDir)
		if err != nil {
			return fmt.Errorf("image %s: %w", s.ref, err)
		}
		state := "unchanged"
		if changed {
			state = "written"
		}
		fmt.Printf("==> image %-48s %s (%s)\n", s.ref, id.Hex[:12], state)
		fmt.Fprintf(&list, "%s %s %s\n", s.ref, id, archive)
	}
	return os.WriteFile(filepath.Join(outDir, "images.txt"), list.Bytes(), 0o644)
}

// write builds the image and writes its archive unless an archive of the same
// image ID is already there.
func write(s spec, outDir string) (v1.Hash, string, bool, error) {
	l := newLayer()
	l.dir("/tmp", 0o1777)
	l.dir("/etc", 0o755)
	l.file("/etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/tmp:/bin/false\n"))
	l.file("/etc/group", 0o644, []byte("root:x:0:\nnonroot:x:65532:\n"))
	if err := s.build(l); err != nil {
		return v1.Hash{}, "", false, err
	}
	data, err := l.tar()
	if err != nil {
		return v1.Hash{}, "", false, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
	if err != nil {
		return v1.Hash{}, "", false, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return v1.Hash{}, "", false, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Hash{}, "", false, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Entrypoint = s.entrypoint
	cf.Config.Env = s.env
	cf.Config.User = s.user
	cf.Config.WorkingDir = "/"
	if s.workdir != "" {
		cf.Config.WorkingDir = s.workdir
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return v1.Hash{}, "", false, err
	}
	id, err := img.ConfigName()
	if err != nil {
		return v1.Hash{}, "", false, err
	}
	ref, err := name.ParseReference(s.ref)
	if err != nil {
		return v1.Hash{}, "", false, err
	}
	base := strings.NewReplacer("docker.io/", "", "/", "_", ":", "_").Replace(s.ref)
	archive, _ := filepath.Abs(filepath.Join(outDir, base+".tar"))
	idFile := filepath.Join(outDir, base+".id")
	if old, err := os.ReadFile(idFile); err == nil && string(old) == id.String() {
		if _, err := os.Stat(archive); err == nil {
			return id, archive, false, nil
		}
	}
	tmp := archive + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		return v1.Hash{}, "", false, err
	}
	if err := os.Rename(tmp, archive); err != nil {
		return v1.Hash{}, "", false, err
	}
	return id, archive, true, os.WriteFile(idFile, []byte(id.String()), 0o644)
}

// busybox adds Debian's static busybox with a link per applet.
func busybox(l *layer) error {
	const bb = "/bin/busybox"
	if err := l.binary(bb, bb); err != nil {
		return fmt.Errorf("%w (install Debian's busybox-static)", err)
	}
	out, err := exec.Command(bb, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("busybox --list-full: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if p := "/" + strings.TrimSpace(sc.Text()); p != bb && p != "/" {
			l.symlink(p, bb)
		}
	}
	return sc.Err()
}

// layer is the file tree of an image's single layer.
type layer struct {
	entries map[string]*tar.Header
	content map[string][]byte
}

func newLayer() *layer {
	return &layer{entries: map[string]*tar.Header{}, content: map[string][]byte{}}
}

func (l *layer) parents(p string) {
	for d := path.Dir(p); d != "/"; d = path.Dir(d) {
		if _, ok := l.entries[d]; !ok {
			l.dir(d, 0o755)
		}
	}
}

func (l *layer) dir(p string, mode int64) {
	l.parents(p)
	l.entries[p] = &tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(p, "/") + "/", Mode: mode}
}

func (l *layer) file(p string, mode int64, data []byte) {
	l.parents(p)
	l.entries[p] = &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(p, "/"), Mode: mode, Size: int64(len(data))}
	l.content[p] = data
}

func (l *layer) symlink(p, target string) {
	l.parents(p)
	l.entries[p] = &tar.Header{Typeflag: tar.TypeSymlink, Name: strings.TrimPrefix(p, "/"), Linkname: target, Mode: 0o777}
}

// binary adds an executable and, when it is dynamically linked, the shared
// libraries and loader ldd names, from the host (a Debian machine).
func (l *layer) binary(p, src string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	l.file(p, 0o755, data)
	out, err := exec.Command("ldd", src).CombinedOutput()
	if err != nil {
		return nil // "not a dynamic executable": static, nothing more to add
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		lib := ""
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			lib = f[2]
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			lib = f[0]
		}
		if lib == "" || l.content[lib] != nil {
			continue
		}
		b, err := os.ReadFile(lib)
		if err != nil {
			return fmt.Errorf("library of %s: %w", src, err)
		}
		l.file(lib, 0o755, b)
	}
	return sc.Err()
}

// tree copies a directory (the provider mirror) under p.
func (l *layer) tree(p, src string) error {
	return filepath.WalkDir(src, func(f string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, f)
		dst := path.Join(p, filepath.ToSlash(rel))
		if d.IsDir() {
			l.dir(dst, 0o755)
			return nil
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		l.file(dst, 0o755, data)
		return nil
	})
}

// tar writes the entries sorted by path, owned by root, with no times.
func (l *layer) tar() ([]byte, error) {
	paths := make([]string, 0, len(l.entries))
	for p := range l.entries {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		h := *l.entries[p]
		h.Format = tar.FormatPAX
		h.ModTime = time.Unix(0, 0)
		if err := tw.WriteHeader(&h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(l.content[p]); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
