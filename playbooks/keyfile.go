package playbooks

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/stacklab/stacklab/internal/atomicfile"
)

// WritePrivateKey saves the private half of a generated keypair at
// k.PrivateKeyPath, mode 0600 from the first byte. It never replaces an
// existing file: that file may be the only way into servers booted with
// an earlier key, so the user moves it aside, not us.
func WritePrivateKey(k Keypair, pem []byte) error {
	if k.PrivateKeyPath == "" {
		return fmt.Errorf("keypair %s: no private_key_file to write", k.Name)
	}
	err := atomicfile.Write(k.PrivateKeyPath, pem, atomicfile.Options{Mode: 0o600, NoReplace: true})
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("keypair %s: %s already exists; move it aside to let a new key be written: %w", k.Name, k.PrivateKeyPath, err)
	}
	if err != nil {
		return fmt.Errorf("keypair %s: save private key: %w", k.Name, err)
	}
	return nil
}
