module github.com/coopgo/coop

go 1.26
