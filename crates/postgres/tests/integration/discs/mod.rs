mod listing;
mod writes;
