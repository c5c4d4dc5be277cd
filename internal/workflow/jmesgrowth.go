package workflow

import (
	"errors"
	"fmt"
	"math"
	"reflect"

	"github.com/jmespath/go-jmespath"
)

// A JMESPath search cannot be stopped once it started, and pipes let an
// expression build values many times the size of its input ([@, @][] |
// [@, @][] | … doubles a list at every step; to_string(…) of that, a
// string). So transforms are bounded before they are saved: jmesCost
// walks the parsed expression and bounds, in JSON bytes, every value it
// could build when the run holds as much data as a run can hold. An
// expression whose bound exceeds jmesGrowth times that is refused.
const jmesGrowth = 256

var jmesBase = float64(MaxRunBytes + MaxInputBytes + MaxDefinitionBytes)

// checkJMESGrowth refuses an expression that could build values far larger
// than the data it reads.
func checkJMESGrowth(src string) error {
	tree, err := jmespath.NewParser().Parse(src)
	if err != nil {
		return errors.New(oneLine(err.Error()))
	}
	root := reflect.ValueOf(tree)
	if !root.FieldByName("nodeType").IsValid() || !root.FieldByName("children").IsValid() || !root.FieldByName("value").IsValid() {
		return errors.New("cannot be checked (unknown JMESPath version)")
	}
	var c jmesCost
	c.eval(root, jmesBase, 1)
	if c.peak > jmesGrowth*jmesBase || math.IsNaN(c.peak) {
		return fmt.Errorf("could build values more than %d times the size of the run's data (pipes and multi-selects that repeat @, long literals in projections, to_string of to_string …); simplify it", jmesGrowth)
	}
	return nil
}

// jmesCost bounds what an expression builds: eval returns the JSON bytes
// of a node's results over all its evaluations, given the bytes of its
// inputs (in) and how many times it is evaluated (count); peak is the
// largest such bound of any node.
type jmesCost struct{ peak float64 }

func nodeType(n reflect.Value) int { return int(n.FieldByName("nodeType").Int()) }

func children(n reflect.Value) []reflect.Value {
	k := n.FieldByName("children")
	out := make([]reflect.Value, k.Len())
	for i := range out {
		out[i] = k.Index(i)
	}
	return out
}

// nodeString is a node's string value (a field or function name, a key).
func nodeString(n reflect.Value) string {
	v := n.FieldByName("value")
	for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Int, reflect.Int64:
		return fmt.Sprintf("[%d]", v.Int())
	}
	return ""
}

// elems bounds how many elements a value of size bytes holds ("0," is the
// smallest element).
func elems(size float64) float64 { return max(1, size/2) }

func (c *jmesCost) eval(n reflect.Value, in, count float64) float64 {
	out := c.node(n, in, count)
	c.peak = max(c.peak, out)
	return out
}

func (c *jmesCost) node(n reflect.Value, in, count float64) float64 {
	k := children(n)
	at := func(i int, in, count float64) float64 {
		if i < len(k) {
			return c.eval(k[i], in, count)
		}
		return 0
	}
	switch nodeType(n) {
	case int(jmespath.ASTField), int(jmespath.ASTIndex), int(jmespath.ASTSlice), int(jmespath.ASTCurrentNode),
		int(jmespath.ASTIdentity), int(jmespath.ASTEmpty):
		return in // a part of the input, or all of it
	case int(jmespath.ASTLiteral):
		return count * jsonSize(n.FieldByName("value"))
	case int(jmespath.ASTSubexpression), int(jmespath.ASTPipe), int(jmespath.ASTIndexExpression):
		return at(1, at(0, in, count), count)
	case int(jmespath.ASTProjection), int(jmespath.ASTValueProjection):
		l := at(0, in, count)
		return at(1, l, elems(l))
	case int(jmespath.ASTFilterProjection):
		l := at(0, in, count)
		at(2, l, elems(l))
		return at(1, l, elems(l))
	case int(jmespath.ASTFlatten), int(jmespath.ASTExpRef):
		return at(0, in, count)
	case int(jmespath.ASTMultiSelectList), int(jmespath.ASTMultiSelectHash):
		return c.multi(n, k, in, count)
	case int(jmespath.ASTComparator), int(jmespath.ASTNotExpression):
		for i := range k {
			at(i, in, count)
		}
		return count * 8
	case int(jmespath.ASTOrExpression), int(jmespath.ASTAndExpression):
		return max(at(0, in, count), at(1, in, count))
	case int(jmespath.ASTFunctionExpression):
		return c.function(nodeString(n), k, at, in, count)
	}
	sum := in
	for i := range k {
		sum += at(i, in, count)
	}
	return sum
}

// multi bounds a multi-select: the sum of its parts, except that plain
// paths to disjoint parts of the input ({a: x.y, b: z}) add up to at most
// the input.
func (c *jmesCost) multi(n reflect.Value, k []reflect.Value, in, count float64) float64 {
	hash := nodeType(n) == int(jmespath.ASTMultiSelectHash)
	sum := count * 2
	var paths [][]string
	disjoint := true
	pathBytes := 0.0
	for _, ch := range k {
		val := ch
		if hash {
			sum += count * float64(len(nodeString(ch))+4)
			if kids := children(ch); len(kids) > 0 {
				val = kids[0]
			}
		}
		out := c.eval(val, in, count)
		if p, ok := purePath(val); ok {
			for _, q := range paths {
				disjoint = disjoint && !prefixes(p, q)
			}
			paths = append(paths, p)
			pathBytes += out
			continue
		}
		sum += out
	}
	if disjoint {
		pathBytes = min(pathBytes, in)
	}
	return sum + pathBytes
}

func purePath(n reflect.Value) ([]string, bool) {
	switch nodeType(n) {
	case int(jmespath.ASTField), int(jmespath.ASTIndex):
		return []string{nodeString(n)}, true
	case int(jmespath.ASTSubexpression), int(jmespath.ASTIndexExpression):
		k := children(n)
		if len(k) != 2 {
			return nil, false
		}
		a, ok1 := purePath(k[0])
		b, ok2 := purePath(k[1])
		return append(a, b...), ok1 && ok2
	}
	return nil, false
}

// prefixes reports whether one path is a prefix of the other (so the parts
// they name overlap).
func prefixes(p, q []string) bool {
	for i := 0; i < len(p) && i < len(q); i++ {
		if p[i] != q[i] {
			return false
		}
	}
	return true
}

func (c *jmesCost) function(name string, k []reflect.Value, at func(int, float64, float64) float64, in, count float64) float64 {
	switch name {
	case "map": // map(&expr, array): expr once per element
		arr := at(1, in, count)
		return at(0, arr, elems(arr))
	case "sort_by", "max_by", "min_by": // (array, &key)
		arr := at(0, in, count)
		at(1, arr, elems(arr))
		return arr
	case "join": // join(separator, array): a separator per element
		sep := at(0, in, count)
		arr := at(1, in, count)
		return arr + elems(arr)*sep/count
	case "to_string": // escaping a control character takes six bytes
		return 6 * at(0, in, count)
	case "length", "abs", "avg", "ceil", "floor", "sum", "contains", "starts_with", "ends_with", "type", "to_number":
		for i := range k {
			at(i, in, count)
		}
		return count * 24
	}
	// max, min, not_null, reverse, sort, to_array, keys, values, merge and
	// anything else: at most their arguments together.
	sum := 0.0
	for i := range k {
		sum += at(i, in, count)
	}
	return max(sum, count*24)
}

// jsonSize bounds a literal's JSON encoding (it reads the parsed value by
// reflection: the tree's fields are not exported).
func jsonSize(v reflect.Value) float64 {
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return 4
		}
		return jsonSize(v.Elem())
	case reflect.String:
		return float64(v.Len() + 2)
	case reflect.Slice, reflect.Array:
		s := 2.0
		for i := 0; i < v.Len(); i++ {
			s += jsonSize(v.Index(i)) + 1
		}
		return s
	case reflect.Map:
		s := 2.0
		it := v.MapRange()
		for it.Next() {
			s += jsonSize(it.Key()) + 1 + jsonSize(it.Value()) + 1
		}
		return s
	}
	return 24
}
