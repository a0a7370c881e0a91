package fusemap

// A running i.MX board says which SoC it is in two places (README,
// "Which chip"): the compatible strings of the OCOTP's device tree node,
// which the nvmem device links as of_node, and the kernel's soc0/soc_id.
// The maps carry both (identify: in maps/*.yaml); these functions read
// them from tables generated with the maps, so that naming a board's SoC
// builds no map.

// ByCompatible returns the map named by a device tree node's compatible
// strings, in the node's order, and the string that decided. As the
// driver's of_match does, the first string a map claims decides: the
// i.MX8MN node lists fsl,imx8mn-ocotp, then fsl,imx8mm-ocotp as a
// fallback for kernels that lack the first. It returns "" when no string
// names a map: not an i.MX OCOTP otpprov knows.
func ByCompatible(compatible []string) (soc, matched string) {
	for _, c := range compatible {
		if name, ok := byCompatible[c]; ok {
			return name, c
		}
	}
	return "", ""
}

// BySoCID returns the map of a kernel soc_id ("i.MX8MM"), or "".
func BySoCID(id string) string { return bySoCID[id] }
