//! Availability: free slots from open blocks minus booked and pending appointments.
