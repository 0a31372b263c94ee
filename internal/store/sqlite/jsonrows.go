package sqlite

import "strconv"

// jsonRows builds a JSON array of integer rows, [[1,2],[3,4]], the argument
// of the statements that update many topics at once through json_each.
type jsonRows struct {
	b []byte
	n int // rows added
}

func (r *jsonRows) add(vals ...int64) {
	r.n++
	if len(r.b) == 0 {
		r.b = append(r.b, '[')
	} else {
		r.b = append(r.b, ',')
	}
	r.b = append(r.b, '[')
	for i, v := range vals {
		if i > 0 {
			r.b = append(r.b, ',')
		}
		r.b = strconv.AppendInt(r.b, v, 10)
	}
	r.b = append(r.b, ']')
}

func (r *jsonRows) String() string {
	if len(r.b) == 0 {
		return "[]"
	}
	return string(r.b) + "]"
}
