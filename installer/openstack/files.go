package openstack

import "slices"

// Files returns every file the lab manages, in the order to apply them:
// first the files a package's maintainer scripts read (PreInstall), as
// install writes them before any package, then each service's, then the
// boot order drop-ins.
func Files(p Params) []File {
	var pre, files []File
	for _, g := range [][]File{
		{mariadbConf(), rabbitmqEnv(), memcachedConf(p)},
		keystoneFiles(p),
		glanceFiles(p),
		placementFiles(p),
		novaFiles(p),
		neutronFiles(p),
		horizonFiles(p),
	} {
		for _, f := range g {
			if f.PreInstall {
				pre = append(pre, f)
			} else {
				files = append(files, f)
			}
		}
	}
	return slices.Concat(pre, files, bootOrderFiles(Tiers(p)))
}
