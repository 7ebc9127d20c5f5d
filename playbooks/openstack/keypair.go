package openstack

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/keypairs"
	"golang.org/x/crypto/ssh"

	"github.com/stacklab/stacklab/internal/safefile"
	"github.com/stacklab/stacklab/playbooks"
)

type keypairDriver struct{ c *Cloud }

func (d *keypairDriver) Get(ctx context.Context, name string) (playbooks.Current, bool, error) {
	nova, err := d.c.novaClient()
	if err != nil {
		return playbooks.Current{}, false, err
	}
	// Keypair names are unique per user, so a direct lookup cannot find two.
	kp, err := keypairs.Get(ctx, nova, name, nil).Extract()
	if isNotFound(err) {
		return playbooks.Current{}, false, nil
	}
	if err != nil {
		return playbooks.Current{}, false, fmt.Errorf("nova: get keypair %s: %w", name, err)
	}
	key, _ := splitPublicKey(kp.PublicKey)
	return playbooks.Current{ID: kp.Name, Owner: keyOwner(kp.PublicKey),
		Spec: playbooks.Keypair{Name: kp.Name, PublicKey: key}}, true, nil
}

// keypairComparable drops the comment of a declared key: the stored key's
// comment is our marker, so only type and material can be compared.
func keypairComparable(k playbooks.Keypair) playbooks.Keypair {
	k.PublicKey, _ = splitPublicKey(k.PublicKey)
	return k
}

func (d *keypairDriver) Diff(r playbooks.Resource, cur playbooks.Current) []playbooks.FieldChange {
	want := keypairComparable(r.Spec.(playbooks.Keypair))
	have := keypairComparable(cur.Spec.(playbooks.Keypair))
	return playbooks.DiffFields(playbooks.Fields(want), playbooks.Fields(have))
}

// generateKey makes an ed25519 key: the OpenSSH private key file and the
// public key line. Nova's own generation is gone since microversion 2.92.
func generateKey(comment string) (privatePEM []byte, publicLine string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("generate ed25519 key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, "", fmt.Errorf("encode private key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, "", fmt.Errorf("encode public key: %w", err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))
	return pem.EncodeToMemory(block), line, nil
}

// existingKey reads the public key line of the OpenSSH private key at path;
// existing is false when there is no file. A file that is not a private
// key without passphrase is an error: it is not ours to replace.
func existingKey(path string) (line string, existing bool, err error) {
	b, err := safefile.ReadRegular(path, playbooks.MaxKeyFileBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read private key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return "", true, fmt.Errorf("%s exists but is not a usable private key; move it aside to let a new key be generated: %w", path, err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))), true, nil
}

func (d *keypairDriver) Create(ctx context.Context, r playbooks.Resource, owner string) error {
	k := r.Spec.(playbooks.Keypair)
	public := k.PublicKey
	wrote := false
	if k.Generate {
		line, existing, err := existingKey(k.PrivateKeyPath)
		switch {
		case err != nil:
			return fmt.Errorf("keypair %s: %w", k.Name, err)
		case existing:
			// Destroy removed the keypair but never the private key, which
			// may still open servers booted elsewhere; importing its public
			// half makes a re-apply give back the very same keypair.
			public = line
		default:
			priv, line, err := generateKey(k.Name)
			if err != nil {
				return fmt.Errorf("keypair %s: %w", k.Name, err)
			}
			// Saved before the import: a key nova holds whose private half
			// is lost would be an orphan nobody can log in with.
			if err := playbooks.WritePrivateKey(k, priv); err != nil {
				return err
			}
			public, wrote = line, true
		}
	}
	if strings.TrimSpace(public) == "" {
		return fmt.Errorf("keypair %s: no public key to import", k.Name)
	}
	nova, err := d.c.novaClient()
	if err != nil {
		return err
	}
	_, err = keypairs.Create(ctx, nova, keypairs.CreateOpts{Name: k.Name, PublicKey: markedPublicKey(public, owner)}).Extract()
	if err != nil {
		if wrote {
			// The key just written opens nothing yet: left there, the next
			// apply would import it, which is fine, but a key nobody asked
			// to keep should not linger after a failure.
			_ = os.Remove(k.PrivateKeyPath)
		}
		return fmt.Errorf("nova: import keypair %s: %w", k.Name, err)
	}
	return nil
}

// Update replaces the key: nova keypairs cannot change. Servers booted
// with the old key keep it in their authorized_keys.
func (d *keypairDriver) Update(ctx context.Context, r playbooks.Resource, cur playbooks.Current, _ []playbooks.FieldChange) error {
	d.c.logf("keypair %s: the public key changed; deleting and importing it again", r.Name)
	if err := d.Delete(ctx, cur); err != nil {
		return err
	}
	return d.Create(ctx, r, cur.Owner)
}

func (d *keypairDriver) Delete(ctx context.Context, cur playbooks.Current) error {
	nova, err := d.c.novaClient()
	if err != nil {
		return err
	}
	if err := ignoreNotFound(keypairs.Delete(ctx, nova, cur.ID, nil).ExtractErr()); err != nil {
		return fmt.Errorf("nova: delete keypair %s: %w", cur.ID, err)
	}
	return nil
}
