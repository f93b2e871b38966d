// Package geo is keepclear's pure geometry: geodesic buffer zones in metres
// around a point or a polygon footprint, exact containment and distance, and
// an index of zones on an R-tree (github.com/tidwall/rtree) that prunes by
// bounding box and decides by an exact distance test.
//
// Coordinates are orb.Point values, which are [lon, lat] in degrees (WGS84).
// Distances are metres on the ground, measured on a sphere of radius
// orb.EarthRadius by the haversine formula (orb/geo.DistanceHaversine): within
// 0.5 % of the ellipsoidal geodesic at any latitude, i.e. better than 1 m for
// the zone sizes keepclear uses, and correct across the antimeridian and near
// the poles, where degree-based buffers fail.
//
// The package does no I/O, logging or metrics and takes no context.
package geo
