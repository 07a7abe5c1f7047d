package dataplane

// CarryACLHits is carryACLHits, for the reload counter tests.
var CarryACLHits = carryACLHits
