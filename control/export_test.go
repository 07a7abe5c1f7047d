package control

// TopWords are the first words of the command language, as the parser
// knows them.
var TopWords = grammar[""]
