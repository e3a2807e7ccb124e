package cas

import (
	"context"
	"slices"
)

// ListPageSize is the number of names per page that ListPages hands out.
const ListPageSize = 1000

// ListPages implements the paging of TagLister and RepositoryLister for a
// store that holds its names in memory: it sorts names, keeps those after
// last, and calls fn with pages of at most ListPageSize. names is sorted in
// place.
func ListPages(ctx context.Context, names []string, last string, fn func([]string) error) error {
	slices.Sort(names)
	i, _ := slices.BinarySearch(names, last)
	for i < len(names) && names[i] <= last {
		i++
	}
	names = names[i:]
	for len(names) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(len(names), ListPageSize)
		if err := fn(names[:n]); err != nil {
			return err
		}
		names = names[n:]
	}
	return nil
}
